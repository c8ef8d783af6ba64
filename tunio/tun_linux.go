package tunio

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// DefaultPath is the clone device VpnCloud opens unless --device-path says otherwise.
const DefaultPath = "/dev/net/tun"

// Options configure Open. The zero value opens a TUN named by the kernel
// ("tun%d") through DefaultPath.
type Options struct {
	// Name is the interface name or a template containing %d, which the
	// kernel replaces with the lowest free index (VpnCloud's default is
	// "vpncloud%d"). Empty means "tun%d" or "tap%d". At most 15 bytes.
	Name string
	// Type is TUN or TAP. Zero means TUN.
	Type Type
	// Path is the clone device; empty means DefaultPath.
	Path string
	// Logger receives open/close and configuration messages; nil means zap.NewNop().
	Logger *zap.Logger
}

// Tun is an open Linux TUN/TAP device; it implements Device and adds the
// netlink configuration the daemon needs at start. Netlink requests go
// through a handle opened in the network namespace of the thread that
// called Open, so they reach the device's namespace from any goroutine.
type Tun struct {
	name string
	typ  Type
	log  *zap.Logger

	file *os.File        // non-blocking, registered with Go's poller
	rc   syscall.RawConn // raw access to file's fd through the poller
	nl   *netlink.Handle // rtnetlink in the device's namespace
	idx  int             // interface index

	// Read state: one Read at a time (Device contract). The raw-conn
	// callbacks are method values made once, as a closure per call would
	// allocate.
	rbufs  [][]byte
	rsizes []int
	roff   int
	rn     int
	rerr   error
	rfunc  func(uintptr) bool

	// Write state: one Write at a time.
	wbufs [][]byte
	woff  int
	wn    int
	werr  error
	wfunc func(uintptr) bool

	mtu       atomic.Int64
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ Device = (*Tun)(nil)

// Open creates (or attaches to) a TUN or TAP device with IFF_NO_PI, in the
// network namespace of the calling thread. The returned Tun is down and
// unaddressed; use Configure or the single setters.
func Open(opts Options) (*Tun, error) {
	typ := opts.Type
	if typ == 0 {
		typ = TUN
	}
	if typ != TUN && typ != TAP {
		return nil, fmt.Errorf("tunio.Open: %w", ErrUnknownType)
	}
	name := opts.Name
	if name == "" {
		name = typ.String() + "%d"
	}
	if len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tunio.Open %q: %w", name, ErrBadName)
	}
	path := opts.Path
	if path == "" {
		path = DefaultPath
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}

	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tunio.Open %s: open %s: %w", name, path, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tunio.Open %q: %w: %w", name, ErrBadName, err)
	}
	ifr.SetUint16(ifreqFlags(typ))
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tunio.Open %s: TUNSETIFF: %w", name, err)
	}
	name = ifr.Name()

	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tunio.Open %s: netlink: %w", name, err)
	}
	link, err := h.LinkByName(name)
	if err != nil {
		h.Close()
		unix.Close(fd)
		return nil, fmt.Errorf("tunio.Open %s: find link: %w", name, err)
	}

	// os.NewFile sees O_NONBLOCK and registers the fd with the poller, so
	// a blocked Read parks the goroutine, not a thread, and Close wakes it.
	file := os.NewFile(uintptr(fd), path)
	rc, err := file.SyscallConn()
	if err != nil {
		h.Close()
		file.Close()
		return nil, fmt.Errorf("tunio.Open %s: raw conn: %w", name, err)
	}
	t := &Tun{name: name, typ: typ, log: log, file: file, rc: rc, nl: h, idx: link.Attrs().Index}
	t.rfunc, t.wfunc = t.readRaw, t.writeRaw
	t.mtu.Store(int64(link.Attrs().MTU))
	log.Info("opened device", zap.String("ifname", name), zap.Stringer("type", typ), zap.Int("mtu", link.Attrs().MTU))
	return t, nil
}

// ifreqFlags is the TUNSETIFF flag word. IFF_MULTI_QUEUE and IFF_VNET_HDR
// join here when the offload work lands.
func ifreqFlags(t Type) uint16 {
	if t == TAP {
		return unix.IFF_TAP | unix.IFF_NO_PI
	}
	return unix.IFF_TUN | unix.IFF_NO_PI
}

// Name implements Device.
func (t *Tun) Name() string { return t.name }

// Type implements Device.
func (t *Tun) Type() Type { return t.typ }

// MTU implements Device: the MTU read at Open or last set with SetMTU.
func (t *Tun) MTU() int { return int(t.mtu.Load()) }

// Index is the kernel's interface index.
func (t *Tun) Index() int { return t.idx }

// Read implements Device. After the first packet (for which it blocks) it
// keeps reading while packets are queued, up to len(bufs), so a burst costs
// one wake-up.
func (t *Tun) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if len(sizes) < len(bufs) || offset < 0 {
		return 0, fmt.Errorf("tunio.Read %s: %w", t.name, ErrBadOffset)
	}
	for _, b := range bufs {
		if offset > len(b) {
			return 0, fmt.Errorf("tunio.Read %s: %w", t.name, ErrBadOffset)
		}
	}
	t.rbufs, t.rsizes, t.roff, t.rn, t.rerr = bufs, sizes, offset, 0, nil
	err := t.rc.Read(t.rfunc)
	n := t.rn
	if err == nil {
		err = t.rerr
	}
	t.rbufs, t.rsizes = nil, nil // don't pin the caller's buffers
	if n > 0 {
		return n, nil
	}
	return 0, t.wrapErr("read", err)
}

// readRaw runs on the poller's behalf; false means "would block, wait".
func (t *Tun) readRaw(fd uintptr) bool {
	for t.rn < len(t.rbufs) {
		r, err := unix.Read(int(fd), t.rbufs[t.rn][t.roff:])
		switch err {
		case nil:
			t.rsizes[t.rn] = r
			t.rn++
		case unix.EINTR:
		case unix.EAGAIN:
			return t.rn > 0 // nothing yet: park in the poller; else done
		default:
			t.rerr = err
			return true
		}
	}
	return true
}

// Write implements Device.
func (t *Tun) Write(bufs [][]byte, offset int) (int, error) {
	if offset < 0 {
		return 0, fmt.Errorf("tunio.Write %s: %w", t.name, ErrBadOffset)
	}
	t.wbufs, t.woff, t.wn, t.werr = bufs, offset, 0, nil
	err := t.rc.Write(t.wfunc)
	n := t.wn
	if err == nil {
		err = t.werr
	}
	t.wbufs = nil
	if err != nil {
		return n, t.wrapErr("write", err)
	}
	return n, nil
}

// writeRaw runs on the poller's behalf; false means "would block, wait".
func (t *Tun) writeRaw(fd uintptr) bool {
	for t.wn < len(t.wbufs) {
		if t.woff > len(t.wbufs[t.wn]) {
			t.werr = ErrBadOffset
			return true
		}
		_, err := unix.Write(int(fd), t.wbufs[t.wn][t.woff:])
		switch err {
		case nil:
			t.wn++
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			t.werr = err
			return true
		}
	}
	return true
}

// wrapErr names the operation and turns any error after Close into one
// satisfying errors.Is(err, net.ErrClosed) (os.File's raw conn reports a
// closing file with its own error value).
func (t *Tun) wrapErr(op string, err error) error {
	if t.closed.Load() || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("tunio.%s %s: %w", op, t.name, net.ErrClosed)
	}
	return fmt.Errorf("tunio.%s %s: %w", op, t.name, err)
}

// Close implements Device. A non-persistent TUN/TAP device disappears from
// the system when its last fd closes.
func (t *Tun) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		t.closeErr = t.file.Close()
		t.nl.Close()
		t.log.Info("closed device", zap.String("ifname", t.name))
	})
	if t.closeErr != nil {
		return fmt.Errorf("tunio.Close %s: %w", t.name, t.closeErr)
	}
	return nil
}
