package fdwait

import (
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func registered(t *testing.T, fd int) bool {
	t.Helper()
	r, err := Registered(fd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fdOf(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// socketpair returns two non-blocking ends of a datagram socketpair as
// files (registered with Go's poller, as os.NewFile does for them).
func socketpair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
}

// TestDetach: the returned file is the same socket, non-blocking, and no
// epoll set of the process holds either descriptor; the old file is
// closed.
func TestDetach(t *testing.T) {
	a, b := socketpair(t)
	defer b.Close()
	old := fdOf(t, a)
	if !registered(t, old) {
		t.Fatalf("fd %d not in Go's poller before Detach (fdinfo)", old)
	}
	f, rc, err := Detach(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := fdOf(t, f)
	if registered(t, old) || registered(t, fd) {
		t.Fatalf("still registered with a poller: old fd %d %v, new fd %d %v", old, registered(t, old), fd, registered(t, fd))
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Fatalf("detached fd flags %#x (%v), want O_NONBLOCK", fl, err)
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Fatal("old file still usable after Detach")
	}
	// Same socket: what b sends arrives on the detached fd.
	if _, err := b.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	var n int
	var rerr error
	calls := 0
	err = rc.Read(func(u uintptr) bool {
		calls++
		n, rerr = unix.Read(int(u), buf)
		return true
	})
	if err != nil || rerr != nil || string(buf[:n]) != "ping" || calls != 1 {
		t.Fatalf("read %q (%v, %v) in %d calls", buf[:n], err, rerr, calls)
	}
}

// TestWait: readiness for input and for output, the timeout, and a
// closed descriptor.
func TestWait(t *testing.T) {
	a, b := socketpair(t)
	defer a.Close()
	defer b.Close()
	fa, fb := fdOf(t, a), fdOf(t, b)
	start := time.Now()
	if err := Wait(fa, unix.POLLIN, 30*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("nothing queued: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Fatalf("timed out after %v, want about 30ms", d)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Write(fb, []byte("x"))
	}()
	if err := Wait(fa, unix.POLLIN, 5*time.Second); err != nil {
		t.Fatalf("after a datagram: %v", err)
	}
	// Fill b's way to a until a write would block: no room for output.
	msg := make([]byte, 1024)
	for {
		if _, err := unix.Write(fb, msg); errors.Is(err, unix.EAGAIN) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if err := Wait(fb, unix.POLLOUT, 30*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("full: %v, want ErrTimeout", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		buf := make([]byte, 2048)
		for {
			if _, err := unix.Read(fa, buf); err != nil {
				return
			}
		}
	}()
	if err := Wait(fb, unix.POLLOUT, 5*time.Second); err != nil {
		t.Fatalf("after draining: %v", err)
	}
	if err := Wait(1<<20, unix.POLLIN, time.Second); !errors.Is(err, unix.EBADF) {
		t.Fatalf("no such fd: %v, want EBADF", err)
	}
}

// TestWaitUntilClosed: ready input ends the wait; closing the owner ends
// it within about one slice, with false.
func TestWaitUntilClosed(t *testing.T) {
	a, b := socketpair(t)
	defer a.Close()
	defer b.Close()
	fa, fb := fdOf(t, a), fdOf(t, b)
	open := func() bool { return false }
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Write(fb, []byte("x"))
	}()
	if !WaitUntilClosed(fa, unix.POLLIN, open) {
		t.Fatal("a datagram did not end the wait")
	}
	buf := make([]byte, 8)
	unix.Read(fa, buf)
	var closed atomic.Bool
	go func() {
		time.Sleep(20 * time.Millisecond)
		closed.Store(true)
	}()
	start := time.Now()
	if WaitUntilClosed(fa, unix.POLLIN, closed.Load) {
		t.Fatal("ready with nothing queued")
	}
	if d := time.Since(start); d > SliceWait+time.Second {
		t.Fatalf("closing ended the wait after %v", d)
	}
}
