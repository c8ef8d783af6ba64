package udptest

import (
	"net/netip"
	"time"
)

// natState is the filtering state of one endpoint behind a simulated NAT.
type natState struct {
	timeout time.Duration
	now     func() time.Time
	// mappings holds, per remote address this endpoint has sent to, when
	// the NAT forgets that it did.
	mappings map[netip.AddrPort]time.Time
}

// SetNAT puts the endpoint at addr behind a simulated NAT with
// endpoint-restricted filtering (no address translation): a datagram
// reaches it only from an address it has itself sent a datagram to within
// the last timeout, as measured by now. Sending through the NAT opens (or
// refreshes) the mapping even when the network then loses the datagram.
// Filtered datagrams count as Dropped and as Filtered. now is called with
// the network's lock held, so it must not call into the Network. A later
// SetNAT for the same address replaces the state (forgetting mappings).
func (n *Network) SetNAT(addr netip.AddrPort, timeout time.Duration, now func() time.Time) {
	addr = unmapAddrPort(addr)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nat == nil {
		n.nat = make(map[netip.AddrPort]*natState)
	}
	n.hasNAT.Store(true)
	n.nat[addr] = &natState{timeout: timeout, now: now, mappings: make(map[netip.AddrPort]time.Time)}
}

// ClearNAT takes the endpoint at addr out from behind its NAT.
func (n *Network) ClearNAT(addr netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.nat, unmapAddrPort(addr))
}

// Filtered counts datagrams a simulated NAT refused.
func (n *Network) Filtered() int64 { return n.filtered.Load() }

// Queued is the number of datagrams waiting in the receive queues of open
// Conns or held back by the hook: zero when nothing is in flight.
func (n *Network) Queued() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := 0
	for _, c := range n.conns {
		q += len(c.in)
	}
	for _, h := range n.held {
		q += len(h)
	}
	return q
}

// natOutLocked records that from sent a datagram to to.
func (n *Network) natOutLocked(from, to netip.AddrPort) {
	if s := n.nat[from]; s != nil {
		s.mappings[to] = s.now().Add(s.timeout)
	}
}

// natAllowsLocked reports whether the NAT in front of to (if any) lets a
// datagram from from through.
func (n *Network) natAllowsLocked(from, to netip.AddrPort) bool {
	s := n.nat[to]
	if s == nil {
		return true
	}
	exp, ok := s.mappings[from]
	if !ok {
		return false
	}
	if s.now().After(exp) {
		delete(s.mappings, from)
		return false
	}
	return true
}

func unmapAddrPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
