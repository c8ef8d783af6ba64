package udpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Defaults for Options' zero values.
const (
	DefaultBufferSize = 4 << 20 // SO_RCVBUF / SO_SNDBUF request
	DefaultMaxBatch   = 64      // messages per recvmmsg/sendmmsg
)

// Options configure Listen. The zero value is a dual-stack socket with
// 4 MiB buffers and batches of up to 64 messages per system call.
type Options struct {
	// ForceIPv4 skips the dual-stack socket and opens an IPv4-only one, as
	// happens automatically on a host without IPv6 (VpnCloud issue #300).
	ForceIPv4 bool
	// RecvBuffer and SendBuffer are the socket buffer sizes to request in
	// bytes; zero means DefaultBufferSize, negative keeps the kernel's. As
	// root the FORCE variants lift the net.core.[rw]mem_max cap.
	RecvBuffer, SendBuffer int
	// MaxBatch bounds the messages moved per system call; zero means
	// DefaultMaxBatch. Longer batches are split.
	MaxBatch int
	// Logger receives the fallback and buffer messages; nil means zap.NewNop().
	Logger *zap.Logger
}

// Socket is a Linux UDP socket implementing Conn with recvmmsg/sendmmsg
// over preallocated headers: no allocation per packet in steady state.
type Socket struct {
	file  *os.File        // non-blocking, registered with Go's poller
	rc    syscall.RawConn // raw access to the fd through the poller
	v6    bool            // AF_INET6 (dual-stack) rather than AF_INET
	local netip.AddrPort
	log   *zap.Logger

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	rmu   sync.Mutex // guards r and the read call state below
	r     *mmsgScratch
	rn    int   // messages offered to recvmmsg
	rgot  int   // messages received
	rerr  error // errno from recvmmsg
	rfunc func(uintptr) bool

	wmu   sync.Mutex // guards w and the write call state below
	w     *mmsgScratch
	wn    int   // messages to send
	wsent int   // messages sent
	werr  error // errno from sendmmsg
	wfunc func(uintptr) bool
}

var _ Conn = (*Socket)(nil)

// mmsgScratch is one preallocated recvmmsg/sendmmsg argument array; each
// header points at its own iovec and sockaddr, set once.
type mmsgScratch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []sockaddrBuf
}

func newScratch(n int) *mmsgScratch {
	s := &mmsgScratch{hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n), names: make([]sockaddrBuf, n)}
	for i := range s.hdrs {
		s.hdrs[i].Hdr.Iov = &s.iovs[i]
		s.hdrs[i].Hdr.SetIovlen(1)
		s.hdrs[i].Hdr.Name = &s.names[i][0]
	}
	return s
}

// setBuf points iovec i at b. A zero-length buffer still needs a valid
// base, so it borrows the sockaddr storage with length 0.
func (s *mmsgScratch) setBuf(i int, b []byte) {
	if len(b) == 0 {
		s.iovs[i].Base = &s.names[i][0]
		s.iovs[i].SetLen(0)
		return
	}
	s.iovs[i].Base = &b[0]
	s.iovs[i].SetLen(len(b))
}

// Listen parses addr with ParseListen and binds a socket to it.
func Listen(addr string, opts Options) (*Socket, error) {
	ap, err := ParseListen(addr)
	if err != nil {
		return nil, err
	}
	return ListenAddrPort(ap, opts)
}

// ListenAddrPort binds a socket to ap. Unless opts.ForceIPv4, it opens one
// AF_INET6 socket with IPV6_V6ONLY off (an IPv4 ap is bound v4-mapped, as
// VpnCloud does, and then receives IPv4 only). If the host has no IPv6 it
// falls back to an AF_INET socket for an unspecified or IPv4 ap.
func ListenAddrPort(ap netip.AddrPort, opts Options) (*Socket, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	a := ap.Addr().Unmap()
	if !a.IsValid() {
		a = netip.IPv6Unspecified()
	}
	ap = netip.AddrPortFrom(a, ap.Port())
	if !opts.ForceIPv4 {
		fd, err := bindFunc(ap, true)
		if err == nil {
			return newSocket(fd, true, opts, log)
		}
		if !noIPv6(err) || (a.Is6() && !a.IsUnspecified()) {
			return nil, fmt.Errorf("udpio.Listen %s: %w", ap, err)
		}
		log.Info("no IPv6 on this host, listening on IPv4 only", zap.Error(err))
	}
	if a.Is6() {
		if !a.IsUnspecified() {
			return nil, fmt.Errorf("udpio.Listen %s: %w", ap, ErrAddressFamily)
		}
		ap = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
	}
	fd, err := bindSocket(ap, false)
	if err != nil {
		return nil, fmt.Errorf("udpio.Listen %s: %w", ap, err)
	}
	return newSocket(fd, false, opts, log)
}

// bindFunc is bindSocket; tests replace it to simulate a host without IPv6.
var bindFunc = bindSocket

// noIPv6 tells whether err means the host cannot do IPv6 at all.
func noIPv6(err error) bool {
	return errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EADDRNOTAVAIL)
}

func bindSocket(ap netip.AddrPort, v6 bool) (int, error) {
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("IPV6_V6ONLY=0: %w", err)
		}
	}
	var sa unix.Sockaddr
	if v6 {
		sa6 := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
		if z := ap.Addr().Zone(); z != "" {
			sa6.ZoneId = zoneIndex(z)
		}
		sa = sa6
	} else {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	return fd, nil
}

func newSocket(fd int, v6 bool, opts Options, log *zap.Logger) (*Socket, error) {
	setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, opts.RecvBuffer, log)
	setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, opts.SendBuffer, log)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("udpio.Listen: getsockname: %w", err)
	}
	var local netip.AddrPort
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		local = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		local = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	// os.NewFile sees O_NONBLOCK and registers the fd with the poller.
	file := os.NewFile(uintptr(fd), "udp")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("udpio.Listen: raw conn: %w", err)
	}
	batch := opts.MaxBatch
	if batch <= 0 {
		batch = DefaultMaxBatch
	}
	s := &Socket{file: file, rc: rc, v6: v6, local: local, log: log, r: newScratch(batch), w: newScratch(batch)}
	// Method values made once: a closure per call would allocate.
	s.rfunc = s.recvmmsg
	s.wfunc = s.sendmmsg
	log.Info("listening", zap.Stringer("addr", local), zap.Bool("dual_stack", v6))
	return s, nil
}

func setBuffer(fd, force, plain, size int, log *zap.Logger) {
	if size < 0 {
		return
	}
	if size == 0 {
		size = DefaultBufferSize
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) == nil {
		return
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size); err != nil {
		log.Warn("cannot set socket buffer", zap.Int("bytes", size), zap.Error(err))
	}
}

// LocalAddr implements Conn.
func (s *Socket) LocalAddr() netip.AddrPort { return s.local }

// DualStack reports whether this is one AF_INET6 socket serving both
// families (false after the IPv4-only fallback).
func (s *Socket) DualStack() bool { return s.v6 }

// ReadBatch implements Conn.
func (s *Socket) ReadBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	sc := s.r
	n := min(len(msgs), len(sc.hdrs))
	for i := range n {
		sc.setBuf(i, msgs[i].Buf)
		h := &sc.hdrs[i]
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.Flags = 0
		h.Len = 0
	}
	s.rn, s.rgot, s.rerr = n, 0, nil
	err := s.rc.Read(s.rfunc)
	if err == nil {
		err = s.rerr
	}
	if err != nil {
		return 0, s.wrapErr("ReadBatch", err)
	}
	for i := range s.rgot {
		msgs[i].N = int(sc.hdrs[i].Len)
		msgs[i].Addr = sc.names[i].decode()
	}
	return s.rgot, nil
}

// recvmmsg runs on the poller's behalf; false means "would block, wait".
func (s *Socket) recvmmsg(fd uintptr) bool {
	for {
		// unsafe: the kernel reads and writes the mmsghdr array, which is
		// heap memory held by s.r (kept alive and unmoved for the call);
		// the pointers inside it reach only s.r's iovecs and sockaddrs and
		// the caller's buffers, all heap memory alive for the call.
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.r.hdrs[0])), uintptr(s.rn), 0, 0, 0)
		switch e {
		case 0:
			s.rgot = int(r)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.rerr = e
			return true
		}
	}
}

// WriteBatch implements Conn.
func (s *Socket) WriteBatch(msgs []Message) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sc := s.w
	total := 0
	for total < len(msgs) {
		chunk := msgs[total:]
		n := min(len(chunk), len(sc.hdrs))
		var encErr error
		for i := range n {
			m := &chunk[i]
			if m.N < 0 || m.N > len(m.Buf) {
				encErr = ErrBadMessage
			} else {
				var l uint32
				l, encErr = sc.names[i].encode(m.Addr, s.v6)
				sc.hdrs[i].Hdr.Namelen = l
			}
			if encErr != nil {
				n = i
				break
			}
			sc.setBuf(i, m.Buf[:m.N])
			sc.hdrs[i].Hdr.Flags = 0
		}
		if n > 0 {
			s.wn, s.wsent, s.werr = n, 0, nil
			err := s.rc.Write(s.wfunc)
			total += s.wsent
			if err == nil {
				err = s.werr
			}
			if err != nil {
				return total, s.wrapErr("WriteBatch", err)
			}
		}
		if encErr != nil {
			return total, fmt.Errorf("udpio.WriteBatch to %s: %w", chunk[n].Addr, encErr)
		}
	}
	return total, nil
}

// sendmmsg runs on the poller's behalf; false means "would block, wait".
func (s *Socket) sendmmsg(fd uintptr) bool {
	for s.wsent < s.wn {
		// unsafe: as in recvmmsg, the array and everything it points to is
		// heap memory alive for the call.
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.w.hdrs[s.wsent])), uintptr(s.wn-s.wsent), 0, 0, 0)
		switch e {
		case 0:
			s.wsent += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			s.werr = e
			return true
		}
	}
	return true
}

// wrapErr names the operation and turns any error after Close into one
// satisfying errors.Is(err, net.ErrClosed).
func (s *Socket) wrapErr(op string, err error) error {
	if s.closed.Load() || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("udpio.%s %s: %w", op, s.local, net.ErrClosed)
	}
	return fmt.Errorf("udpio.%s %s: %w", op, s.local, err)
}

// Close implements Conn.
func (s *Socket) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.file.Close()
	})
	if s.closeErr != nil {
		return fmt.Errorf("udpio.Close %s: %w", s.local, s.closeErr)
	}
	return nil
}
