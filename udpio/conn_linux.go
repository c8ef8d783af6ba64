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

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/internal/fdwait"
	"golang.org/x/sys/unix"
)

// Defaults for Options' zero values.
const (
	DefaultBufferSize = 4 << 20 // SO_RCVBUF / SO_SNDBUF request
	DefaultMaxBatch   = 64      // messages per recvmmsg/sendmmsg
	DefaultGROBuffers = 16      // 64 KiB receive buffers with UDP_GRO
)

// Options configure Listen. The zero value is a dual-stack socket with
// 4 MiB buffers, batches of up to 64 messages per system call, and UDP GSO
// and GRO on where the kernel supports them.
type Options struct {
	// ForceIPv4 skips the dual-stack socket and opens an IPv4-only one, as
	// happens automatically on a host without IPv6 (VpnCloud issue #300).
	ForceIPv4 bool
	// RecvBuffer and SendBuffer are the socket buffer sizes to request in
	// bytes; zero means DefaultBufferSize, negative keeps the kernel's. As
	// root the FORCE variants lift the net.core.[rw]mem_max cap.
	RecvBuffer, SendBuffer int
	// MaxBatch bounds the sendmmsg/recvmmsg headers per system call; zero
	// means DefaultMaxBatch. Longer batches are split.
	MaxBatch int
	// NoGSO turns UDP_SEGMENT send offload off. It is on by default when
	// the kernel supports it, and turns itself off for good if a send
	// with it fails with EIO (a device without checksum offload).
	NoGSO bool
	// NoGRO turns UDP_GRO receive offload off. It is on by default when
	// the kernel supports it.
	NoGRO bool
	// GROBuffers is the number of 64 KiB receive buffers used while GRO
	// is on, which bounds the datagrams (coalesced or not) taken per
	// recvmmsg: memory is GROBuffers × 64 KiB per socket. Zero means
	// DefaultGROBuffers; it is capped at MaxBatch.
	GROBuffers int
	// ReusePort sets SO_REUSEPORT before binding, so that further sockets
	// of this user may bind the same port and the kernel spreads peers
	// across them by a hash of their addresses. ListenShards sets it.
	ReusePort bool
	// Logger receives the fallback and buffer messages; nil means zap.NewNop().
	Logger *zap.Logger
}

// Offloads tells which offloads a Socket uses at the moment.
type Offloads struct {
	GSO       bool // UDP_SEGMENT on send: runs to one peer leave as one message
	GRO       bool // UDP_GRO on receive: coalesced datagrams are split in ReadBatch
	ReusePort bool // SO_REUSEPORT: the port may be shared by shards
}

// Socket is a Linux UDP socket implementing Conn with recvmmsg/sendmmsg
// over preallocated headers, UDP GSO and GRO: no allocation per packet in
// steady state.
type Socket struct {
	file  *os.File        // non-blocking, registered with Go's poller
	rc    syscall.RawConn // raw access to the fd through the poller
	v6    bool            // AF_INET6 (dual-stack) rather than AF_INET
	reuse bool            // SO_REUSEPORT set
	local netip.AddrPort
	log   *zap.Logger

	gso atomic.Bool // UDP_SEGMENT in use; cleared once on EIO

	// Counters for tests and benchmarks.
	gsoSent     atomic.Uint64 // messages sent with a UDP_SEGMENT cmsg
	gsoRetried  atomic.Uint64 // runs refused with UDP_SEGMENT and resent without
	groCoalesce atomic.Uint64 // datagrams received with a gso_size cmsg

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// kwait: the fd waits in the kernel (WaitInKernel), not in Go's
	// poller; set before concurrent use.
	kwait bool

	rmu      sync.Mutex // guards r, gro and the read call state below
	r        *mmsgScratch
	gro      *groReader // nil without UDP_GRO
	rn       int        // messages offered to recvmmsg
	rgot     int        // messages received
	rerr     error      // errno from recvmmsg
	rnoblock bool       // recvmmsg reports EAGAIN as 0 messages instead of waiting
	rfunc    func(uintptr) bool

	wmu   sync.Mutex // guards w and the write call state below
	w     *mmsgScratch
	wn    int   // headers to send
	wsent int   // headers sent
	werr  error // errno from sendmmsg
	wfunc func(uintptr) bool
}

var _ Conn = (*Socket)(nil)

// mmsgScratch is one preallocated recvmmsg/sendmmsg argument array with
// its iovecs, sockaddrs, control buffers (ctrlSize bytes per header) and,
// for sends, the number of caller messages each header carries.
type mmsgScratch struct {
	hdrs     []unix.Mmsghdr
	iovs     []unix.Iovec
	names    []sockaddrBuf
	ctrl     []byte
	ctrlSize int
	counts   []int
}

// newScratch makes n headers and niov iovecs; header i points at its own
// sockaddr and, while niov == n, at iovec i (reads; sends repoint them).
func newScratch(n, niov, ctrlSize int) *mmsgScratch {
	s := &mmsgScratch{
		hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, niov), names: make([]sockaddrBuf, n),
		ctrl: make([]byte, n*ctrlSize), ctrlSize: ctrlSize, counts: make([]int, n),
	}
	for i := range s.hdrs {
		if i < niov {
			s.hdrs[i].Hdr.Iov = &s.iovs[i]
			s.hdrs[i].Hdr.SetIovlen(1)
		}
		s.hdrs[i].Hdr.Name = &s.names[i][0]
	}
	return s
}

// control returns header i's control buffer.
func (s *mmsgScratch) control(i int) []byte {
	return s.ctrl[i*s.ctrlSize : (i+1)*s.ctrlSize]
}

// setIov points iovec i at b. A zero-length buffer still needs a valid
// base, so it borrows sockaddr storage with length 0.
func (s *mmsgScratch) setIov(i int, b []byte) {
	if len(b) == 0 {
		s.iovs[i].Base = &s.names[0][0]
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
		fd, err := bindFunc(ap, true, opts.ReusePort)
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
	fd, err := bindSocket(ap, false, opts.ReusePort)
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

func bindSocket(ap netip.AddrPort, v6, reuse bool) (int, error) {
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
	if reuse {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("SO_REUSEPORT: %w", err)
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
	gso, gro := probeOffloads(fd, opts, log)
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
	// A GSO message spans up to gsoMaxSegments iovecs: have room for one
	// full run even with a small MaxBatch.
	rctrl := 0
	if gro {
		rctrl = groCtrlSize
	}
	s := &Socket{
		file: file, rc: rc, v6: v6, reuse: opts.ReusePort, local: local, log: log,
		r: newScratch(batch, batch, rctrl),
		w: newScratch(batch, max(batch, gsoMaxSegments), gsoCtrlSize),
	}
	s.gso.Store(gso)
	if gro {
		n := opts.GROBuffers
		if n <= 0 {
			n = DefaultGROBuffers
		}
		s.gro = newGROReader(min(n, batch))
	}
	// Method values made once: a closure per call would allocate.
	s.rfunc = s.recvmmsg
	s.wfunc = s.sendmmsg
	log.Info("listening", zap.Stringer("addr", local), zap.Bool("dual_stack", v6),
		zap.Bool("gso", gso), zap.Bool("gro", gro), zap.Bool("reuseport", opts.ReusePort))
	return s, nil
}

// probeGSO and enableGRO are the offload probes; tests replace them to
// simulate kernels without support.
var (
	probeGSO  = func(fd int) error { _, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT); return err }
	enableGRO = func(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1) }
)

// probeOffloads decides which offloads fd uses and logs any the kernel
// refuses.
func probeOffloads(fd int, opts Options, log *zap.Logger) (gso, gro bool) {
	if !opts.NoGSO {
		if err := probeGSO(fd); err != nil {
			log.Info("UDP GSO (UDP_SEGMENT) not supported, sending datagrams one by one", zap.Error(err))
		} else {
			gso = true
		}
	}
	if !opts.NoGRO {
		if err := enableGRO(fd); err != nil {
			log.Info("UDP GRO not supported, receiving datagrams one by one", zap.Error(err))
		} else {
			gro = true
		}
	}
	return gso, gro
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

// Offloads reports the offloads in use now. GSO may turn off during the
// socket's life (see Options.NoGSO); GRO and ReusePort are fixed at Listen.
func (s *Socket) Offloads() Offloads {
	return Offloads{GSO: s.gso.Load(), GRO: s.gro != nil, ReusePort: s.reuse}
}

// wrapErr names the operation and turns any error after Close into one
// satisfying errors.Is(err, net.ErrClosed).
func (s *Socket) wrapErr(op string, err error) error {
	if s.closed.Load() || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("udpio.%s %s: %w", op, s.local, net.ErrClosed)
	}
	return fmt.Errorf("udpio.%s %s: %w", op, s.local, err)
}

// WaitInKernel takes the socket out of Go's poller: from then on a read
// or write that has to wait does so in the kernel (ppoll), and whoever
// polls PollFd is the only one woken by its traffic. The pipeline's
// small-packet lane waits on it with its own epoll set. Call it before
// the socket is used concurrently.
func (s *Socket) WaitInKernel() error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.kwait {
		return nil
	}
	f, rc, err := fdwait.Detach(s.file)
	if err != nil {
		return fmt.Errorf("udpio.WaitInKernel %s: %w", s.local, err)
	}
	s.file, s.rc, s.kwait = f, rc, true
	return nil
}

// PollFd returns the socket's descriptor for a caller's own poll or epoll
// set (after WaitInKernel); -1 once closed. The descriptor stays the
// socket's until Close.
func (s *Socket) PollFd() int {
	fd := -1
	if err := s.rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1
	}
	return fd
}

// kernelWait waits in the kernel until fd is ready for events, for a
// socket under WaitInKernel; false once the socket is closed.
func (s *Socket) kernelWait(fd uintptr, events int16) bool {
	return fdwait.WaitUntilClosed(int(fd), events, s.closed.Load)
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
