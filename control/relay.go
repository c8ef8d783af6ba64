package control

import (
	"net/netip"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/wire"
)

// Relays (Config.Relay; the data plane's side is in pipeline/relay.go).
//
// Every node that relays says so in its handshake. A node learns of the
// other nodes from its peers' peer lists (sightings). When it has known a
// node for relayDelay seconds without a direct connection, it starts a
// handshake with it through one of the relaying peers that list it: the
// handshake and then the session run end to end between the two nodes,
// every datagram wrapped in a relay message to the relay, which forwards it
// without being able to open it. Such a relayed peer is keyed by a
// placeholder address (100::/64, RFC 6666's discard prefix) that names the
// path (relay address, node id). While relayed, the node keeps trying the
// direct addresses every directRetry seconds; once a direct connection is
// established the relayed peer is closed. A relayed peer goes when its
// relay goes.

const (
	relayDelay      = 5  // seconds a node is known without a direct connection before relaying
	relayRetryMax   = 60 // seconds, the longest wait between relayed attempts
	directRetry     = 10 // seconds between direct attempts to a relayed peer
	maxSightings    = 4096
	minSightingLife = 60 // seconds a sighting lives at least without being listed again
)

// sighting is what this node knows about a node it has seen in peer lists.
type sighting struct {
	addrs      []netip.AddrPort // its addresses, as listed
	vias       []netip.AddrPort // relaying peers that listed it
	first      int64            // when first listed (since the last forget)
	last       int64            // when last listed
	relayTries int
	nextRelay  int64
	nextDirect int64
}

// virtPrefix is where placeholder addresses of relayed paths come from.
var virtPrefix = netip.MustParsePrefix("100::/64")

// isRelayed reports whether addr names a relayed path.
func (n *Node) isRelayed(addr netip.AddrPort) bool {
	_, ok := n.virtKey[addr]
	return ok
}

// virtualAddr returns the placeholder address of the path through via to
// node, allocating one the first time.
func (n *Node) virtualAddr(via netip.AddrPort, node wire.NodeID) netip.AddrPort {
	k := pipeline.RelayKey{Via: via, Node: node}
	if a, ok := n.virt[k]; ok {
		return a
	}
	n.nextVirt++
	b := virtPrefix.Addr().As16()
	for i := 0; i < 8; i++ {
		b[15-i] = byte(n.nextVirt >> (8 * i))
	}
	a := netip.AddrPortFrom(netip.AddrFrom16(b), 0)
	n.virt[k] = a
	n.virtKey[a] = k
	return a
}

// sendRelayed sends the datagram pkt of the relayed path addr to its relay,
// in a relay message.
func (n *Node) sendRelayed(addr netip.AddrPort, pkt []byte) {
	k, ok := n.virtKey[addr]
	via := n.peers[k.Via]
	if !ok || via == nil || !via.hs.PeerRelays() {
		n.Counters.SendFailed.Add(1)
		return
	}
	body := make([]byte, wire.RelayHeaderLen+len(pkt))
	copy(body, k.Node[:])
	copy(body[wire.RelayHeaderLen:], pkt)
	n.sendMessage(via, wire.TypeRelay, body)
}

// relayedFrom maps a handshake message that came through the relay from
// (node: its sender) to the path's placeholder address; ok is false when
// this node does not take relayed traffic from there.
func (n *Node) relayedFrom(from netip.AddrPort, node wire.NodeID) (netip.AddrPort, bool) {
	via := n.peers[from]
	if !n.cfg.Relay || via == nil || via.via.IsValid() || !via.hs.PeerRelays() || node == n.nodeID {
		return netip.AddrPort{}, false
	}
	return n.virtualAddr(from, node), true
}

// noteSightings records the nodes of a peer list that peer p sent.
func (n *Node) noteSightings(p *peer, list []wire.PeerInfo) {
	if !n.cfg.Relay || p.via.IsValid() {
		return
	}
	relays := p.hs.PeerRelays()
	for _, pi := range list {
		if !pi.HasNodeID || pi.NodeID == n.nodeID || pi.NodeID == p.nodeID {
			continue
		}
		s := n.known[pi.NodeID]
		if s == nil {
			if len(n.known) >= maxSightings {
				continue
			}
			s = &sighting{first: n.now}
			n.known[pi.NodeID] = s
		}
		s.last = n.now
		for _, a := range pi.Addrs {
			if a = unmap(a); a.IsValid() && !containsAddr(s.addrs, a) {
				s.addrs = append(s.addrs, a)
			}
		}
		if relays && !containsAddr(s.vias, p.addr) {
			s.vias = append(s.vias, p.addr)
		}
	}
}

func containsAddr(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// relayTick is the relays' part of the housekeeping: relay to nodes known
// for a while without a direct connection, try the direct path of relayed
// peers, forget old sightings and unused placeholders.
func (n *Node) relayTick() {
	if !n.cfg.Relay {
		return
	}
	direct := make(map[wire.NodeID]bool, len(n.peers))
	relayed := make(map[wire.NodeID]bool)
	for _, p := range n.peers {
		if p.via.IsValid() {
			relayed[p.nodeID] = true
		} else {
			direct[p.nodeID] = true
		}
	}
	life := int64(max(3*n.cfg.Keepalive, minSightingLife))
	for id, s := range n.known {
		if n.now-s.last > life && !direct[id] && !relayed[id] {
			delete(n.known, id)
			continue
		}
		switch {
		case direct[id]:
			s.relayTries, s.nextRelay, s.first = 0, 0, n.now
		case relayed[id]:
			if s.nextDirect <= n.now {
				s.nextDirect = n.now + directRetry
				n.probeDirect(s.addrs)
			}
		case n.now-s.first >= relayDelay && s.nextRelay <= n.now:
			n.tryRelay(id, s)
		}
	}
	n.sweepPlaceholders()
}

// probeDirect starts handshakes with the direct addresses of a relayed
// node (as connectAny), marked as probes: no connecting or disconnected
// events and no info lines while they keep failing; one that succeeds is an
// ordinary new peer.
func (n *Node) probeDirect(addrs []netip.AddrPort) {
	for _, a := range addrs {
		a = unmap(a)
		if n.isOwn(a) || n.peers[a] != nil || n.pending[a] != nil {
			return
		}
	}
	for a := range n.probes {
		if n.pending[a] == nil {
			delete(n.probes, a) // ended some other way
		}
	}
	for _, a := range addrs {
		a = unmap(a)
		if a.IsValid() && len(n.probes) < maxSightings {
			n.probes[a] = true
		}
		n.connectTo(a)
	}
}

// tryRelay starts a handshake with node id through one of the relaying
// peers that listed it, a different one each try.
func (n *Node) tryRelay(id wire.NodeID, s *sighting) {
	var vias []*peer
	for _, a := range s.vias {
		if p := n.peers[a]; p != nil && !p.via.IsValid() && p.hs.PeerRelays() {
			vias = append(vias, p)
		}
	}
	if len(vias) == 0 {
		return
	}
	via := vias[s.relayTries%len(vias)]
	s.relayTries++
	s.nextRelay = n.now + min(int64(10)<<min(s.relayTries-1, 3), relayRetryMax)
	addr := n.virtualAddr(via.addr, id)
	if n.pending[addr] != nil || n.peers[addr] != nil {
		return
	}
	n.log.Debug("no direct connection, connecting through a relay", zap.String("node_id", fmtNodeID(id)),
		zap.Stringer("relay", via.addr))
	n.connectTo(addr)
}

// sweepPlaceholders forgets placeholder addresses no peer or handshake
// uses, once there are many.
func (n *Node) sweepPlaceholders() {
	if len(n.virt) <= 2*(len(n.peers)+len(n.pending))+64 {
		return
	}
	for k, a := range n.virt {
		if n.peers[a] == nil && n.pending[a] == nil {
			delete(n.virt, k)
			delete(n.virtKey, a)
		}
	}
}

// dropRelayedTo closes relayed peers and relayed handshakes to node id (a
// direct connection to it is established).
func (n *Node) dropRelayedTo(id wire.NodeID) {
	for _, p := range n.peers {
		if p.via.IsValid() && p.nodeID == id {
			n.sendMessage(p, wire.TypeClose, nil)
			n.removePeer(p, "direct path established")
		}
	}
	for a := range n.pending {
		if k, ok := n.virtKey[a]; ok && k.Node == id {
			delete(n.pending, a)
		}
	}
}

// dropRelayedVia removes the relayed peers whose relay is via.
func (n *Node) dropRelayedVia(via netip.AddrPort) {
	for _, p := range n.peers {
		if p.via == via {
			n.removePeer(p, "relay gone")
		}
	}
}
