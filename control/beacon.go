package control

import "net/netip"

// Beacons (package beacon) publish a node's own addresses (OwnAddrs, in
// ownaddr.go) and connect to the addresses other nodes published
// (ConnectAddrs). Like every other method of Node they must run on the
// control goroutine: from another goroutine call them inside Do.

// ConnectAddrs starts a handshake with each of addrs that is valid, not
// one of the own addresses, not a peer yet and not already being
// connected (VpnCloud's connect_sock for each address of a loaded beacon).
// IPv4-mapped addresses count as IPv4. It returns the number of handshakes
// started.
func (n *Node) ConnectAddrs(addrs []netip.AddrPort) int {
	started := 0
	for _, a := range addrs {
		a = unmap(a)
		if !a.IsValid() || a.Addr().IsUnspecified() || a.Port() == 0 || n.peers[a] != nil || n.pending[a] != nil || n.isOwn(a) {
			continue
		}
		n.connectTo(a)
		if n.pending[a] != nil {
			started++
		}
	}
	return started
}
