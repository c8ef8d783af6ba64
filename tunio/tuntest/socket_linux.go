package tuntest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peercloud/peercloud/internal/fdwait"
	"github.com/peercloud/peercloud/tunio"
)

// SocketTUN is a tunio.Device over one end of a packet socketpair, waiting
// in the kernel like a tunio queue after WaitInKernel: its descriptor is
// not in Go's poller, ReadNoWait returns what is queued (possibly nothing)
// and PollFd is for the caller's own epoll set. The test holds the other
// end: Inject hands the daemon a packet, Receive takes one it wrote.
type SocketTUN struct {
	name string
	typ  tunio.Type
	mtu  int

	dev    *os.File        // the device's end, out of Go's poller
	rc     syscall.RawConn // raw access to dev
	kernel *os.File        // the test's end
	closed atomic.Bool
}

// NewSocketTUN returns an open SocketTUN.
func NewSocketTUN(name string, typ tunio.Type, mtu int) (*SocketTUN, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tuntest.NewSocketTUN: %w", err)
	}
	kernel := os.NewFile(uintptr(fds[1]), name+"-kernel")
	dev, rc, err := fdwait.Detach(os.NewFile(uintptr(fds[0]), name))
	if err != nil {
		kernel.Close()
		return nil, fmt.Errorf("tuntest.NewSocketTUN: %w", err)
	}
	return &SocketTUN{name: name, typ: typ, mtu: mtu, dev: dev, rc: rc, kernel: kernel}, nil
}

var _ tunio.Device = (*SocketTUN)(nil)

// Name implements tunio.Device.
func (s *SocketTUN) Name() string { return s.name }

// Type implements tunio.Device.
func (s *SocketTUN) Type() tunio.Type { return s.typ }

// MTU implements tunio.Device.
func (s *SocketTUN) MTU() int { return s.mtu }

// WaitInKernel is a no-op: the device's end never was in Go's poller.
func (s *SocketTUN) WaitInKernel() error { return nil }

// PollFd returns the device end's descriptor; -1 once closed.
func (s *SocketTUN) PollFd() int {
	fd := -1
	if err := s.rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1
	}
	return fd
}

func (s *SocketTUN) wrap(op string, err error) error {
	if s.closed.Load() || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("tuntest.%s %s: %w", op, s.name, net.ErrClosed)
	}
	return fmt.Errorf("tuntest.%s %s: %w", op, s.name, err)
}

// ReadNoWait reads the packets queued, up to len(bufs), each into
// bufs[i][offset:]; 0 when none are.
func (s *SocketTUN) ReadNoWait(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(sizes) < len(bufs) || offset < 0 {
		return 0, fmt.Errorf("tuntest.Read: %w", tunio.ErrBadOffset)
	}
	n := 0
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		for n < len(bufs) {
			if offset > len(bufs[n]) {
				rerr = tunio.ErrBadOffset
				return true
			}
			r, _, err := unix.Recvfrom(int(fd), bufs[n][offset:], unix.MSG_DONTWAIT)
			if errors.Is(err, unix.EAGAIN) {
				return true
			}
			if err != nil {
				rerr = err
				return true
			}
			sizes[n] = r
			n++
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	if err != nil && n == 0 {
		return 0, s.wrap("Read", err)
	}
	return n, nil
}

// Read implements tunio.Device: it waits in the kernel for the first
// packet (Close ends the wait within 100 ms).
func (s *SocketTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	for {
		n, err := s.ReadNoWait(bufs, sizes, offset)
		if n > 0 || err != nil {
			return n, err
		}
		if s.closed.Load() {
			return 0, s.wrap("Read", net.ErrClosed)
		}
		if err := fdwait.Wait(s.PollFd(), unix.POLLIN, 100*time.Millisecond); err != nil && !errors.Is(err, fdwait.ErrTimeout) {
			return 0, s.wrap("Read", err)
		}
	}
}

// Write implements tunio.Device: each bufs[i][offset:] becomes a packet
// for Receive.
func (s *SocketTUN) Write(bufs [][]byte, offset int) (int, error) {
	if offset < 0 {
		return 0, fmt.Errorf("tuntest.Write: %w", tunio.ErrBadOffset)
	}
	for i, b := range bufs {
		if offset > len(b) {
			return i, fmt.Errorf("tuntest.Write: %w", tunio.ErrBadOffset)
		}
		for {
			var werr error
			err := s.rc.Write(func(fd uintptr) bool {
				werr = unix.Sendto(int(fd), b[offset:], unix.MSG_DONTWAIT, nil)
				return true
			})
			if err == nil {
				err = werr
			}
			if err == nil {
				break
			}
			if !errors.Is(err, unix.EAGAIN) {
				return i, s.wrap("Write", err)
			}
			if err := fdwait.Wait(s.PollFd(), unix.POLLOUT, 100*time.Millisecond); err != nil && !errors.Is(err, fdwait.ErrTimeout) {
				return i, s.wrap("Write", err)
			}
		}
	}
	return len(bufs), nil
}

// Close implements tunio.Device.
func (s *SocketTUN) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.dev.Close()
	s.kernel.Close()
	if err != nil {
		return fmt.Errorf("tuntest.Close %s: %w", s.name, err)
	}
	return nil
}

// Inject hands the device a packet, as the kernel would.
func (s *SocketTUN) Inject(pkt []byte) error {
	if _, err := s.kernel.Write(pkt); err != nil {
		return fmt.Errorf("tuntest.Inject %s: %w", s.name, err)
	}
	return nil
}

// Receive returns the next packet the device wrote, waiting at most
// timeout.
func (s *SocketTUN) Receive(timeout time.Duration) ([]byte, error) {
	if err := s.kernel.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, fmt.Errorf("tuntest.Receive %s: %w", s.name, err)
	}
	buf := make([]byte, 1<<16)
	n, err := s.kernel.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("tuntest.Receive %s: %w", s.name, err)
	}
	return buf[:n], nil
}
