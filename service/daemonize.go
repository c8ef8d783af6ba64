package service

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// EnvDaemonChild marks the re-executed child of Daemonize. Its value is
// the number of the file descriptor readiness is reported on.
const EnvDaemonChild = "PEERCLOUD_DAEMON_CHILD"

// readyByte, written alone, reports success; anything else is an error
// message.
const readyByte = 'R'

// DaemonOptions configure Daemonize.
type DaemonOptions struct {
	// Path is the executable (default: /proc/self/exe's target).
	Path string
	// Args are the arguments of the child (without the program name).
	Args []string
	// PIDFile, when set, receives the child's pid once it is ready.
	PIDFile string
	// Owner, when UID >= 0, owns the pid file (VpnCloud chowns it to --user).
	Owner Credentials
	// Timeout bounds the wait for readiness (default 2 minutes).
	Timeout time.Duration
}

// Daemonize is --daemon without fork (Go cannot fork a running runtime):
// it starts the program again as a detached child (a new session, stdio on
// /dev/null, EnvDaemonChild set) and waits until the child reports
// readiness through a pipe, then writes the pid file and returns the
// child's pid; the caller exits 0. If the child fails or exits first, the
// error carries its message.
func Daemonize(o DaemonOptions) (int, error) {
	if o.Path == "" {
		p, err := os.Executable()
		if err != nil {
			return 0, fmt.Errorf("%w: finding the executable: %w", ErrDaemon, err)
		}
		o.Path = p
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDaemon, err)
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDaemon, err)
	}
	defer r.Close()
	cmd := exec.Command(o.Path, o.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.Env = append(os.Environ(), EnvDaemonChild+"=3")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close() // only the child holds the write end now
	if err != nil {
		return 0, fmt.Errorf("%w: starting %s: %w", ErrDaemon, o.Path, err)
	}
	pid := cmd.Process.Pid
	// The child is not waited for; release it (it outlives us).
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	msg := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
		msg <- b
	}()
	var got []byte
	select {
	case got = <-msg:
	case <-time.After(o.Timeout):
		_ = cmd.Process.Kill()
		return 0, fmt.Errorf("%w: the daemon was not ready within %v", ErrDaemon, o.Timeout)
	}
	if !bytes.Equal(got, []byte{readyByte}) {
		text := string(bytes.TrimSpace(got))
		if text == "" {
			select {
			case err := <-exited:
				text = fmt.Sprintf("the daemon exited before it was ready (%v)", err)
			case <-time.After(time.Second):
				text = "the daemon closed its readiness pipe"
			}
		}
		return 0, fmt.Errorf("%w: %s", ErrDaemon, text)
	}
	if o.PIDFile != "" {
		if err := writePIDFile(o.PIDFile, pid, o.Owner); err != nil {
			return pid, err
		}
	}
	return pid, nil
}

func writePIDFile(path string, pid int, owner Credentials) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("%w: pid file: %w", ErrDaemon, err)
	}
	if owner.UID >= 0 || owner.GID >= 0 {
		if err := os.Chown(path, owner.UID, owner.GID); err != nil {
			return fmt.Errorf("%w: pid file: %w", ErrDaemon, err)
		}
	}
	return nil
}

// Readiness is the child's end of Daemonize's pipe. Its methods are safe
// for concurrent use; only the first report counts. A nil *Readiness (not
// a daemon child) ignores every report.
type Readiness struct {
	f chan *os.File
}

// DaemonChild returns the readiness reporter when this process is a child
// of Daemonize (and removes the marker from the environment, so hooks and
// their children do not see it), else nil.
func DaemonChild(getenv func(string) string) *Readiness {
	v := getenv(EnvDaemonChild)
	if v == "" {
		return nil
	}
	_ = os.Unsetenv(EnvDaemonChild)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	f := os.NewFile(uintptr(fd), "daemon-ready")
	if f == nil {
		return nil
	}
	r := &Readiness{f: make(chan *os.File, 1)}
	r.f <- f
	return r
}

func (r *Readiness) report(b []byte) {
	if r == nil {
		return
	}
	select {
	case f := <-r.f:
		_, _ = f.Write(b) // the parent may be gone; nothing to do then
		_ = f.Close()
	default:
	}
}

// Ready tells the parent that the daemon is up.
func (r *Readiness) Ready() { r.report([]byte{readyByte}) }

// Fail tells the parent why the daemon could not start.
func (r *Readiness) Fail(err error) {
	msg := "failed"
	if err != nil {
		msg = err.Error()
	}
	if len(msg) == 1 && msg[0] == readyByte {
		msg += " "
	}
	r.report([]byte(msg))
}
