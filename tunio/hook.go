package tunio

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
)

// maxHookOutput bounds how much of a hook's output RunHook keeps.
const maxHookOutput = 64 << 10

// RunHook runs cmd with `sh -c`, as VpnCloud runs its ifup/ifdown scripts
// and event hooks, with the daemon's environment plus env (entries
// "KEY=VALUE", later ones win). VpnCloud sets IFNAME=<device name> for
// ifup/ifdown, and EVENT=<event> plus event-specific variables (IFNAME,
// PEER, ...) for hooks; the caller builds env accordingly.
//
// It waits for the command and returns its combined stdout and stderr (at
// most 64 KiB, the rest dropped) so the caller can log it. A non-zero exit
// is an error wrapping *exec.ExitError. Cancelling ctx kills the command.
func RunHook(ctx context.Context, cmd string, env []string) ([]byte, error) {
	if cmd == "" {
		return nil, fmt.Errorf("tunio.RunHook: %w", ErrEmptyHook)
	}
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Env = append(os.Environ(), env...)
	out := &limitedBuffer{max: maxHookOutput}
	c.Stdout = out
	c.Stderr = out
	if err := c.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("tunio.RunHook %q: %w", cmd, err)
	}
	return out.Bytes(), nil
}

// limitedBuffer keeps the first max bytes written and discards the rest
// while reporting success, so a chatty hook never blocks on a full pipe.
// It deliberately does not embed bytes.Buffer: io.Copy would use the
// promoted ReadFrom and bypass the limit.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Bytes() []byte { return b.buf.Bytes() }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}
