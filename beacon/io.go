package beacon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// maxRead bounds what is read from a beacon file or a load command.
const maxRead = 1 << 20

// Target is a beacon location as VpnCloud's --beacon-store and
// --beacon-load take it: a file path, or a shell command after "|".
type Target struct {
	// Command reports a "|command" target.
	Command bool
	// Value is the path or the command (without the "|").
	Value string
}

// ParseTarget parses s; "" is the zero Target (disabled).
func ParseTarget(s string) Target {
	if cmd, ok := strings.CutPrefix(s, "|"); ok {
		return Target{Command: true, Value: cmd}
	}
	return Target{Value: s}
}

// IsZero reports a disabled target.
func (t Target) IsZero() bool { return t.Value == "" && !t.Command }

// WriteFile stores the beacon of peers in path as VpnCloud does: the beacon
// and a newline, file mode 0444. The file is replaced atomically (written
// beside it, then renamed), so a reader never sees half a beacon.
func (c *Codec) WriteFile(path string, peers []netip.AddrPort, now time.Time) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("beacon.WriteFile %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = io.WriteString(f, c.Encode(peers, now)+"\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o444)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("beacon.WriteFile %s: %w", path, err)
	}
	return nil
}

// ReadFile loads the beacons in path (at most 1 MiB is read) and decodes
// them as Decode does.
func (c *Codec) ReadFile(path string, now time.Time, ttl time.Duration) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("beacon.ReadFile: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRead))
	if err != nil {
		return nil, fmt.Errorf("beacon.ReadFile %s: %w", path, err)
	}
	peers, err := c.Decode(string(b), now, ttl)
	if err != nil {
		return nil, fmt.Errorf("beacon.ReadFile %s: %w", path, err)
	}
	return peers, nil
}

// StoreCommand runs cmd with sh -c as VpnCloud's write_to_cmd: the
// environment has the variables begin, data, end and beacon (the whole
// beacon) besides the daemon's own; stdin is empty. It waits for the
// command (the caller decides where); a non-zero exit is ErrCommand with
// the command's stderr. ctx ending kills the command's process group.
func (c *Codec) StoreCommand(ctx context.Context, cmd string, peers []netip.AddrPort, now time.Time) error {
	data := c.EncodeData(peers, now)
	_, err := runShell(ctx, cmd, "begin="+c.begin, "data="+data, "end="+c.end, "beacon="+c.begin+data+c.end)
	if err != nil {
		return fmt.Errorf("beacon.StoreCommand: %w", err)
	}
	return nil
}

// LoadCommand runs cmd with sh -c as VpnCloud's read_from_cmd (the
// variables begin and end in its environment) and decodes the beacons in
// its standard output (at most 1 MiB is read). It waits for the command.
func (c *Codec) LoadCommand(ctx context.Context, cmd string, now time.Time, ttl time.Duration) ([]netip.AddrPort, error) {
	out, err := runShell(ctx, cmd, "begin="+c.begin, "end="+c.end)
	if err != nil {
		return nil, fmt.Errorf("beacon.LoadCommand: %w", err)
	}
	peers, err := c.Decode(string(out), now, ttl)
	if err != nil {
		return nil, fmt.Errorf("beacon.LoadCommand: %w", err)
	}
	return peers, nil
}

// capped keeps the first max bytes written to it and discards the rest.
type capped struct {
	buf bytes.Buffer
	max int
}

func (w *capped) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func runShell(ctx context.Context, script string, env ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	// Own process group, so a cancelled or timed-out command dies with
	// everything it started (which would otherwise hold the pipes open).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	stdout := &capped{max: maxRead}
	stderr := &capped{max: 4096}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: sh -c %q: %w: %s", ErrCommand, script, err, strings.TrimSpace(stderr.buf.String()))
		}
		return nil, fmt.Errorf("sh -c %q: %w", script, err)
	}
	return stdout.buf.Bytes(), nil
}
