// Package fdwait lets a file descriptor wait in the kernel instead of in
// Go's poller.
//
// Go parks a goroutine whose non-blocking read finds nothing and wakes it
// from its poller thread: on an idle host that wake-up costs a scheduler
// round trip on cold caches, ~25 µs more than a thread the kernel wakes
// straight out of a blocking call (docs/ARCHITECTURE.md, "The small lane
// waits in the kernel"). A descriptor handed to Detach is no longer
// registered with the poller, so its readiness wakes only whoever waits
// on it with Wait (or an epoll set of one's own).
package fdwait

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Detach returns a file for f's descriptor that Go's poller does not know
// and closes f, which unregisters f from the poller. The new file's
// descriptor is a duplicate of f's, non-blocking like f's: the open file
// (the socket, the TUN queue) stays the same. Reads and writes through the
// returned file's raw conn call their function exactly once, so that
// function must not return false (it would be reported as an error); it
// waits with Wait instead. Call Detach before any other goroutine uses f.
func Detach(f *os.File) (*os.File, syscall.RawConn, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, fmt.Errorf("fdwait.Detach %s: %w", f.Name(), err)
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, nil, fmt.Errorf("fdwait.Detach %s: %w", f.Name(), err)
	}
	if derr != nil {
		return nil, nil, fmt.Errorf("fdwait.Detach %s: dup: %w", f.Name(), derr)
	}
	// O_NONBLOCK belongs to the open file, shared by both descriptors:
	// blocking for the moment os.NewFile looks, so that it does not
	// register the duplicate with the poller, then non-blocking again.
	if err := unix.SetNonblock(dup, false); err != nil {
		unix.Close(dup)
		return nil, nil, fmt.Errorf("fdwait.Detach %s: %w", f.Name(), err)
	}
	nf := os.NewFile(uintptr(dup), f.Name())
	if err := unix.SetNonblock(dup, true); err != nil {
		nf.Close()
		return nil, nil, fmt.Errorf("fdwait.Detach %s: %w", f.Name(), err)
	}
	nrc, err := nf.SyscallConn()
	if err != nil {
		nf.Close()
		return nil, nil, fmt.Errorf("fdwait.Detach %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		nf.Close()
		return nil, nil, fmt.Errorf("fdwait.Detach %s: %w", f.Name(), err)
	}
	return nf, nrc, nil
}

// ErrTimeout is returned by Wait when the timeout passed first.
var ErrTimeout = errors.New("fdwait: timeout")

// Wait blocks until fd is ready for events (unix.POLLIN, unix.POLLOUT) or
// timeout passes (ErrTimeout). It returns nil also for an error or hang-up
// condition on fd, which the next read or write reports. The wait is a
// system call the runtime knows about: the garbage collector does not
// wait for it.
func Wait(fd int, events int16, timeout time.Duration) error {
	pfd := unix.PollFd{Fd: int32(fd), Events: events}
	// ppoll writes the time left back into ts: a fresh one per call.
	ts := unix.NsecToTimespec(int64(timeout))
	for {
		// unsafe: ppoll reads pfd and ts and writes both; they live on
		// this goroutine's stack, which cannot move during the call.
		n, _, e := syscall.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return fmt.Errorf("fdwait.Wait: ppoll: %w", e)
		case n == 0:
			return ErrTimeout
		}
		if pfd.Revents&unix.POLLNVAL != 0 {
			return fmt.Errorf("fdwait.Wait: %w", unix.EBADF)
		}
		return nil
	}
}

// WaitUntilClosed is Wait without a timeout for a descriptor whose owner
// may be closed meanwhile, which does not wake a wait in the kernel: it
// waits in slices of SliceWait and looks at closed after each. It returns
// true once fd is ready, false once closed reports true or the wait fails.
func WaitUntilClosed(fd int, events int16, closed func() bool) bool {
	for !closed() {
		err := Wait(fd, events, SliceWait)
		if err == nil {
			return true
		}
		if !errors.Is(err, ErrTimeout) {
			return false
		}
	}
	return false
}

// SliceWait bounds one wait of WaitUntilClosed, so that it sees Close
// within that time.
const SliceWait = 100 * time.Millisecond

// Registered tells whether fd is in an epoll set of this process, Go's
// poller's among them (from /proc/self/fdinfo): for tests that check a
// descriptor was detached.
func Registered(fd int) (bool, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false, fmt.Errorf("fdwait.Registered: %w", err)
	}
	want := strconv.Itoa(fd)
	for _, e := range ents {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || !strings.Contains(link, "eventpoll") {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "tfd:" && f[1] == want {
				return true, nil
			}
		}
	}
	return false, nil
}
