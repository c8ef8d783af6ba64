package tunio

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// maxMTU is the largest MTU a TUN/TAP device accepts.
const maxMTU = 65535

// SetMTU sets the interface MTU.
func (t *Tun) SetMTU(mtu int) error {
	if mtu < minMTU || mtu > maxMTU {
		return fmt.Errorf("tunio.SetMTU %s %d: %w", t.name, mtu, ErrBadMTU)
	}
	if err := t.nl.LinkSetMTU(t.linkRef(), mtu); err != nil {
		return fmt.Errorf("tunio.SetMTU %s %d: %w", t.name, mtu, err)
	}
	t.mtu.Store(int64(mtu))
	t.log.Info("set mtu", zap.String("ifname", t.name), zap.Int("mtu", mtu))
	return nil
}

// MaxTxQueueLen bounds SetTxQueueLen: 65536 packets.
const MaxTxQueueLen = 1 << 16

// SetTxQueueLen sets the device's transmit queue length, which for TUN and
// TAP is the ring of packets waiting for a reader (1 to MaxTxQueueLen).
func (t *Tun) SetTxQueueLen(n int) error {
	if n < 1 || n > MaxTxQueueLen {
		return fmt.Errorf("tunio.SetTxQueueLen %s %d: %w", t.name, n, ErrBadTxQueueLen)
	}
	if err := t.nl.LinkSetTxQLen(t.linkRef(), n); err != nil {
		return fmt.Errorf("tunio.SetTxQueueLen %s %d: %w", t.name, n, err)
	}
	return nil
}

// AddAddress adds addr (VpnCloud's --ip, e.g. 10.0.0.1/24) to the interface.
func (t *Tun) AddAddress(addr netip.Prefix) error {
	a := &netlink.Addr{IPNet: prefixToIPNet(addr)}
	if err := t.nl.AddrAdd(t.linkRef(), a); err != nil {
		return fmt.Errorf("tunio.AddAddress %s %s: %w", t.name, addr, err)
	}
	t.log.Info("added address", zap.String("ifname", t.name), zap.Stringer("addr", addr))
	return nil
}

// Up sets the link administratively up.
func (t *Tun) Up() error {
	if err := t.nl.LinkSetUp(t.linkRef()); err != nil {
		return fmt.Errorf("tunio.Up %s: %w", t.name, err)
	}
	return nil
}

// Down sets the link administratively down.
func (t *Tun) Down() error {
	if err := t.nl.LinkSetDown(t.linkRef()); err != nil {
		return fmt.Errorf("tunio.Down %s: %w", t.name, err)
	}
	return nil
}

// AddRoute routes dst through the device (scope link).
func (t *Tun) AddRoute(dst netip.Prefix) error {
	if err := t.nl.RouteAdd(t.route(dst)); err != nil {
		return fmt.Errorf("tunio.AddRoute %s %s: %w", t.name, dst, err)
	}
	return nil
}

// DelRoute removes a route added with AddRoute.
func (t *Tun) DelRoute(dst netip.Prefix) error {
	if err := t.nl.RouteDel(t.route(dst)); err != nil {
		return fmt.Errorf("tunio.DelRoute %s %s: %w", t.name, dst, err)
	}
	return nil
}

// UnderlayMTU is UnderlayMTU in the device's network namespace.
func (t *Tun) UnderlayMTU() (int, error) { return UnderlayMTU(t.nl) }

// Config is what Configure applies, in VpnCloud's order: MTU, address, up
// (the queue length, which VpnCloud leaves alone, with the MTU).
type Config struct {
	// MTU to set; zero means MTUFor(UnderlayMTU(), true, Overhead(type)),
	// VpnCloud's choice. Negative leaves the MTU alone.
	MTU int
	// TxQueueLen is the device's transmit queue length (packets the
	// kernel holds for the readers; beyond it, it drops); zero leaves
	// the kernel's (500 for TUN/TAP).
	TxQueueLen int
	// Addr is the interface address (--ip); the zero Prefix adds none.
	Addr netip.Prefix
}

// Configure sets the MTU, adds the address and brings the link up. Like
// VpnCloud it only logs a failure to pick or set the automatic MTU
// (e.g. no default route) and carries on; other failures are returned.
func (t *Tun) Configure(c Config) error {
	switch {
	case c.MTU > 0:
		if err := t.SetMTU(c.MTU); err != nil {
			return err
		}
	case c.MTU == 0:
		under, err := t.UnderlayMTU()
		if err != nil {
			// VpnCloud leaves the device at 1500 here, so every full-size
			// packet becomes a fragmented datagram. Assume the common
			// Ethernet underlay instead.
			t.log.Info("no underlay interface found for the automatic mtu, assuming 1500",
				zap.String("ifname", t.name), zap.Error(err))
			under = DefaultUnderlayMTU
		}
		if err := t.SetMTU(MTUFor(under, true, Overhead(t.typ))); err != nil {
			t.log.Error("cannot set optimal mtu", zap.String("ifname", t.name), zap.Error(err))
		}
	}
	if c.TxQueueLen > 0 {
		if err := t.SetTxQueueLen(c.TxQueueLen); err != nil {
			return err
		}
	}
	if c.Addr.IsValid() {
		if err := t.AddAddress(c.Addr); err != nil {
			return err
		}
	}
	return t.Up()
}

// UnderlayMTU returns the MTU of the interface VpnCloud would send through:
// the one holding the IPv4 default route, else the IPv6 default route, else
// any interface with a gateway route. h selects the network namespace; nil
// means the calling thread's.
func UnderlayMTU(h *netlink.Handle) (int, error) {
	if h == nil {
		h = &netlink.Handle{}
	}
	var gwIdx int
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteList(nil, fam)
		if err != nil {
			return 0, fmt.Errorf("tunio.UnderlayMTU: list routes: %w", err)
		}
		for _, r := range routes {
			if r.LinkIndex == 0 {
				continue
			}
			if r.Dst == nil || isDefault(r.Dst) {
				return linkMTU(h, r.LinkIndex)
			}
			if gwIdx == 0 && r.Gw != nil {
				gwIdx = r.LinkIndex
			}
		}
	}
	if gwIdx != 0 {
		return linkMTU(h, gwIdx)
	}
	return 0, fmt.Errorf("tunio.UnderlayMTU: %w", ErrNoDefaultRoute)
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

func linkMTU(h *netlink.Handle, idx int) (int, error) {
	l, err := h.LinkByIndex(idx)
	if err != nil {
		return 0, fmt.Errorf("tunio.UnderlayMTU: link %d: %w", idx, err)
	}
	return l.Attrs().MTU, nil
}

// linkRef names the device to netlink by index (names can be reused).
func (t *Tun) linkRef() netlink.Link {
	attrs := netlink.NewLinkAttrs()
	attrs.Index = t.idx
	attrs.Name = t.name
	return &netlink.Tuntap{LinkAttrs: attrs}
}

func (t *Tun) route(dst netip.Prefix) *netlink.Route {
	return &netlink.Route{LinkIndex: t.idx, Dst: prefixToIPNet(dst.Masked()), Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_STATIC}
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	a, ones := p.Addr(), p.Bits()
	if a.Is4In6() {
		a, ones = a.Unmap(), max(ones-96, 0)
	}
	bits := 32
	if a.Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(ones, bits)}
}
