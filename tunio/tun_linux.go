package tunio

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// DefaultPath is the clone device VpnCloud opens unless --device-path says otherwise.
const DefaultPath = "/dev/net/tun"

// MaxQueues is the largest Options.MultiQueue (the kernel's MAX_TAP_QUEUES).
const MaxQueues = 256

// Options configure Open. The zero value opens a TUN named by the kernel
// ("tun%d") through DefaultPath, with every offload the kernel supports and
// one queue.
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
	// DisableOffloads turns off offloads Open would otherwise probe for:
	// zero means use all the kernel accepts. OffloadVnetHdr turns off all.
	// TAP devices never use offloads.
	DisableOffloads Offloads
	// MultiQueue is the number of queues (IFF_MULTI_QUEUE), one fd each;
	// 0 and 1 mean a single queue without IFF_MULTI_QUEUE. At most MaxQueues.
	MultiQueue int
}

// Tun is an open Linux TUN/TAP device; it implements Device (on queue 0)
// and adds the netlink configuration the daemon needs at start. Netlink
// requests go through a handle opened in the network namespace of the
// thread that called Open, so they reach the device's namespace from any
// goroutine.
type Tun struct {
	name     string
	typ      Type
	log      *zap.Logger
	offloads Offloads

	nl  *netlink.Handle // rtnetlink in the device's namespace
	idx int             // interface index

	queues  []*queue // queues[0] serves Tun's own Read and Write
	devs    []Device // devs[0] is the Tun itself
	dropped atomic.Uint64
	split   atomic.Uint64 // superpackets read and split
	merged  atomic.Uint64 // superpackets written

	mtu       atomic.Int64
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var (
	_ Device    = (*Tun)(nil)
	_ RunWriter = (*Tun)(nil)
)

// setOffload is TUNSETOFFLOAD; tests replace it to simulate old kernels.
var setOffload = func(fd, flags int) error { return unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, flags) }

// Open creates (or attaches to) a TUN or TAP device with IFF_NO_PI, in the
// network namespace of the calling thread, probing the offloads (see
// Offloads) and opening Options.MultiQueue queues. The returned Tun is down
// and unaddressed; use Configure or the single setters.
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
	if opts.MultiQueue < 0 || opts.MultiQueue > MaxQueues {
		return nil, fmt.Errorf("tunio.Open %s: %d queues: %w", name, opts.MultiQueue, ErrBadQueues)
	}
	path := opts.Path
	if path == "" {
		path = DefaultPath
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	nq := max(opts.MultiQueue, 1)
	flags := ifreqFlags(typ)
	if nq > 1 {
		flags |= unix.IFF_MULTI_QUEUE
	}
	want := AllOffloads &^ opts.DisableOffloads
	if typ == TAP || want&OffloadVnetHdr == 0 {
		want = 0
	}

	fds := make([]int, 0, nq)
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	var got Offloads
	if want != 0 {
		fd, resolved, err := openQueue(path, name, flags|unix.IFF_VNET_HDR)
		if err != nil {
			return nil, fmt.Errorf("tunio.Open %s: %w", name, err)
		}
		got, err = probeOffloads(fd, want)
		if err != nil {
			// IFF_VNET_HDR cannot be unset on a live fd: start over plain
			// (the non-persistent device vanished with its only fd).
			log.Warn("tun offloads unavailable, using the plain device", zap.String("ifname", resolved), zap.Error(err))
			unix.Close(fd)
		} else {
			fds, name = append(fds, fd), resolved
			if got != want {
				log.Info("some tun offloads unavailable", zap.String("ifname", name), zap.Stringer("wanted", want), zap.Stringer("active", got))
			}
		}
	}
	if got != 0 {
		flags |= unix.IFF_VNET_HDR
	}
	for len(fds) < nq {
		fd, resolved, err := openQueue(path, name, flags)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("tunio.Open %s: queue %d: %w", name, len(fds), err)
		}
		fds, name = append(fds, fd), resolved
	}

	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("tunio.Open %s: netlink: %w", name, err)
	}
	link, err := h.LinkByName(name)
	if err != nil {
		h.Close()
		closeAll()
		return nil, fmt.Errorf("tunio.Open %s: find link: %w", name, err)
	}
	t := &Tun{name: name, typ: typ, log: log, offloads: got, nl: h, idx: link.Attrs().Index}
	for i, fd := range fds {
		q, err := newQueue(t, fd, path)
		if err != nil {
			for _, q := range t.queues {
				q.close()
			}
			for _, fd := range fds[i+1:] {
				unix.Close(fd)
			}
			h.Close()
			return nil, fmt.Errorf("tunio.Open %s: queue %d: %w", name, i, err)
		}
		t.queues = append(t.queues, q)
		if i == 0 {
			t.devs = append(t.devs, t)
		} else {
			t.devs = append(t.devs, q)
		}
	}
	t.mtu.Store(int64(link.Attrs().MTU))
	log.Info("opened device", zap.String("ifname", name), zap.Stringer("type", typ), zap.Int("mtu", link.Attrs().MTU),
		zap.Stringer("offloads", got), zap.Int("queues", nq))
	return t, nil
}

// openQueue opens path and attaches it to the device name with flags,
// returning the non-blocking fd and the kernel's name for the device.
func openQueue(path, name string, flags uint16) (int, string, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open %s: %w", path, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("%w: %w", ErrBadName, err)
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("TUNSETIFF: %w", err)
	}
	return fd, ifr.Name(), nil
}

// probeOffloads enables as much of want as the kernel accepts with
// TUNSETOFFLOAD (device-wide, so one fd suffices): USO needs Linux 6.2,
// TSO and CSUM are ancient. An error means not even TUN_F_CSUM works.
func probeOffloads(fd int, want Offloads) (Offloads, error) {
	base := unix.TUN_F_CSUM
	if want&OffloadTSO != 0 {
		base |= unix.TUN_F_TSO4 | unix.TUN_F_TSO6
	}
	if want&OffloadUSO != 0 && setOffload(fd, base|unix.TUN_F_USO4|unix.TUN_F_USO6) == nil {
		return want, nil
	}
	err := setOffload(fd, base)
	if err == nil {
		return want &^ OffloadUSO, nil
	}
	if want&OffloadTSO != 0 && setOffload(fd, unix.TUN_F_CSUM) == nil {
		return OffloadVnetHdr, nil
	}
	return 0, fmt.Errorf("TUNSETOFFLOAD: %w", err)
}

// ifreqFlags is the base TUNSETIFF flag word; Open adds IFF_VNET_HDR and
// IFF_MULTI_QUEUE as probed and asked for.
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

// Offloads reports the offloads in use; safe from any goroutine.
func (t *Tun) Offloads() Offloads { return t.offloads }

// Queues returns one Device per queue; Queues()[0] is t itself. The
// kernel spreads flows over the queues (each flow sticks to one), so a
// pipeline runs one reader per queue; Write may use any queue. Each queue
// follows the Device contract on its own (one Read and one Write at a
// time per queue). Closing a queue other than 0 closes only that queue;
// closing t closes them all.
func (t *Tun) Queues() []Device { return t.devs }

// Dropped counts offloaded packets Read had to discard: malformed virtio
// headers or superpackets, or segments larger than the caller's buffer.
func (t *Tun) Dropped() uint64 { return t.dropped.Load() }

// Read implements Device on queue 0. With offloads on, a GSO superpacket
// becomes up to 64 segments, one per buffer; segments that do not fit are
// kept for the next Read, which returns them without blocking.
func (t *Tun) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return t.queues[0].Read(bufs, sizes, offset)
}

// Write implements Device on queue 0. With OffloadTSO (OffloadUSO) it
// coalesces consecutive TCP (UDP) packets of one flow into superpackets,
// rewriting the first packet's IP and transport headers in place; it needs
// no headroom (WriteHeadroom). It returns how many of bufs were written;
// on error bufs[n] is the first packet of the write that failed.
func (t *Tun) Write(bufs [][]byte, offset int) (int, error) {
	return t.queues[0].Write(bufs, offset)
}

// WriteRuns implements RunWriter on queue 0: Write for a caller with more
// packets coming. With hold true, when bufs end in a run that a later
// segment of the same TCP flow could still extend (room for another
// segment, not ended by a short or PSH segment; UDP runs are never held,
// see findRun), that run is not written: n is less than len(bufs),
// bufs[n:] is the run, and heldVerified is how many of its packets have
// had their checksums verified. The caller passes the run again,
// unchanged, at the front of the next call's bufs, with heldVerified as
// verified, so that those checksums are not summed twice; with hold false
// everything is written. Without TSO nothing is held. Writing a run in one
// superpacket instead of two halves split by the caller's batch
// boundaries halves the receiving stack's per-packet work for it.
func (t *Tun) WriteRuns(bufs [][]byte, offset, verified int, hold bool) (n, heldVerified int, err error) {
	return t.queues[0].WriteRuns(bufs, offset, verified, hold)
}

// wrapErr names the operation and turns any error after Close into one
// satisfying errors.Is(err, net.ErrClosed) (os.File's raw conn reports a
// closing file with its own error value).
func wrapErr(op, name string, closed bool, err error) error {
	if closed || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("tunio.%s %s: %w", op, name, net.ErrClosed)
	}
	return fmt.Errorf("tunio.%s %s: %w", op, name, err)
}

// Close implements Device: it closes every queue. A non-persistent TUN/TAP
// device disappears from the system when its last fd closes.
func (t *Tun) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		for _, q := range t.queues {
			if err := q.close(); err != nil && t.closeErr == nil {
				t.closeErr = err
			}
		}
		t.nl.Close()
		t.log.Info("closed device", zap.String("ifname", t.name))
	})
	if t.closeErr != nil {
		return fmt.Errorf("tunio.Close %s: %w", t.name, t.closeErr)
	}
	return nil
}

// WaitInKernel takes queue 0 (the one Tun's own Read and Write use) out of
// Go's poller; see the queue's WaitInKernel (Queues).
func (t *Tun) WaitInKernel() error { return t.queues[0].WaitInKernel() }

// ReadNoWait is Read on queue 0 that returns 0 packets instead of waiting
// when none are queued.
func (t *Tun) ReadNoWait(bufs [][]byte, sizes []int, offset int) (int, error) {
	return t.queues[0].ReadNoWait(bufs, sizes, offset)
}

// PollFd returns queue 0's descriptor (after WaitInKernel); -1 once closed.
func (t *Tun) PollFd() int { return t.queues[0].PollFd() }
