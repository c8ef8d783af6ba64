package control

import (
	"net/netip"
	"slices"
)

// AddExternalAddr adds an own address learned outside the node, such as a
// UPnP port mapping's external address and port. Unlike addresses learned
// from peer lists it survives the periodic reset of own addresses (every
// ownAddrResetInterval) until RemoveExternalAddr. Own addresses are
// advertised to peers in node info; the next broadcast happens on the next
// tick, so peers learn the address at once. Call it on the control
// goroutine (through Do).
func (n *Node) AddExternalAddr(a netip.AddrPort) {
	a = unmap(a)
	if !a.IsValid() || a.Addr().IsUnspecified() || a.Port() == 0 || slices.Contains(n.extAddrs, a) {
		return
	}
	n.extAddrs = append(n.extAddrs, a)
	n.addOwnAddr(a)
	n.nextPeers = n.now
}

// RemoveExternalAddr withdraws an address added with AddExternalAddr
// (a mapping that was lost or moved). Peers forget it with the next node
// info. Call it on the control goroutine (through Do).
func (n *Node) RemoveExternalAddr(a netip.AddrPort) {
	a = unmap(a)
	i := slices.Index(n.extAddrs, a)
	if i < 0 {
		return
	}
	n.extAddrs = slices.Delete(n.extAddrs, i, i+1)
	n.ownAddrs = slices.DeleteFunc(n.ownAddrs, func(o netip.AddrPort) bool { return o == a })
	n.nextPeers = n.now
}

// OwnAddrs returns a copy of the addresses this node knows as its own: the
// advertised addresses, the listen address when it is specific, the
// external addresses (AddExternalAddr) and the addresses peers reported for
// this node (VpnCloud's own_addresses). Call it on the control goroutine
// (through Do).
func (n *Node) OwnAddrs() []netip.AddrPort { return slices.Clone(n.ownAddrs) }
