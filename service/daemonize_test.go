package service

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDaemonizeWritesPIDFileOfRunningChild(t *testing.T) {
	t.Setenv(envHelper, "ready")
	pidFile := filepath.Join(t.TempDir(), "pc.pid")
	pid, err := Daemonize(DaemonOptions{Path: os.Args[0], PIDFile: pidFile, Owner: Credentials{UID: -1, GID: -1}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := strconv.Atoi(strings.TrimSpace(string(b))); got != pid {
		t.Fatalf("pid file holds %q, child is %d", b, pid)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("child %d not running: %v", pid, err)
	}
	// The child runs in its own session, detached from our terminal.
	sid, err := getsid(pid)
	if err != nil {
		t.Fatal(err)
	}
	if sid != pid {
		t.Fatalf("child session %d, want its own (%d)", sid, pid)
	}
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if !strings.Contains(string(env), EnvDaemonChild+"=3") {
		t.Fatal("child was started without the daemon marker")
	}
}

func TestDaemonizeReportsChildFailure(t *testing.T) {
	t.Setenv(envHelper, "fail")
	pidFile := filepath.Join(t.TempDir(), "pc.pid")
	_, err := Daemonize(DaemonOptions{Path: os.Args[0], PIDFile: pidFile, Timeout: 10 * time.Second})
	if !errors.Is(err, ErrDaemon) || !strings.Contains(err.Error(), "cannot open the device: boom") {
		t.Fatalf("err = %v, want ErrDaemon with the child's message", err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatal("a pid file was written for a failed daemon")
	}
}

func TestDaemonizeReportsChildExit(t *testing.T) {
	t.Setenv(envHelper, "exit")
	_, err := Daemonize(DaemonOptions{Path: os.Args[0], Timeout: 10 * time.Second})
	if !errors.Is(err, ErrDaemon) || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("err = %v, want an early exit reported", err)
	}
}

func TestDaemonizeMissingExecutable(t *testing.T) {
	_, err := Daemonize(DaemonOptions{Path: filepath.Join(t.TempDir(), "nope")})
	if !errors.Is(err, ErrDaemon) {
		t.Fatalf("err = %v, want ErrDaemon", err)
	}
}

func TestReadinessOnlyFirstReportCounts(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ready := &Readiness{f: make(chan *os.File, 1)}
	ready.f <- w
	ready.Ready()
	ready.Fail(errors.New("late")) // ignored
	b := make([]byte, 16)
	n, _ := r.Read(b)
	if string(b[:n]) != "R" {
		t.Fatalf("pipe got %q, want R", b[:n])
	}
	var none *Readiness
	none.Ready() // not a daemon child: no-op
	if DaemonChild(func(string) string { return "" }) != nil {
		t.Fatal("DaemonChild without the marker")
	}
	if DaemonChild(func(string) string { return "x" }) != nil {
		t.Fatal("DaemonChild with a bad marker")
	}
}

func getsid(pid int) (int, error) {
	sid, _, errno := syscall.RawSyscall(syscall.SYS_GETSID, uintptr(pid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(sid), nil
}
