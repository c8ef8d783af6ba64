package pipeline

import (
	"net/netip"
	"sync/atomic"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/route"
	"github.com/peercloud/peercloud/wire"
)

// Peer is the data plane's view of one connected peer. The control goroutine
// creates it when a handshake completes and shares it through Snapshots; its
// fields are immutable, only the counters change (atomically).
type Peer struct {
	// Addr is the peer's UDP address; for a relayed peer a placeholder
	// that names the path (datagrams go to Via.Addr).
	Addr    netip.AddrPort
	Session *aead.Session
	// NodeID is the peer's node id (relay messages name nodes by it).
	NodeID wire.NodeID
	// Via is the relay of a relayed peer (nil: direct). A relayed peer's
	// datagrams are sealed with Session, then again with Via.Session in a
	// relay message (relay.go).
	Via   *Peer
	Stats PeerStats
}

// PeerStats are a peer's traffic counters, updated by the data plane.
type PeerStats struct {
	InPackets, InBytes   atomic.Uint64 // authenticated packets from the peer (all types)
	OutPackets, OutBytes atomic.Uint64 // packets sent to the peer by the data plane
}

// Snapshot is the immutable forwarding state the control goroutine publishes.
// A published Snapshot must never be modified.
type Snapshot struct {
	// Routes maps claimed address ranges to peers (longest prefix wins).
	Routes *route.Table[*Peer]
	// ByAddr maps a peer's UDP address to the peer.
	ByAddr map[netip.AddrPort]*Peer
	// TAP reports whether the device carries Ethernet frames (addresses are
	// MACs) rather than IP packets.
	TAP bool
	// Learning makes the data plane learn source addresses of packets from
	// peers and send to the learned peer first (switch mode).
	Learning bool
	// Flood sends packets whose destination nobody claims (broadcast,
	// unknown unicast) to every peer instead of dropping them (switch and
	// hub modes).
	Flood bool
	// Peers lists every peer, for flooding.
	Peers []*Peer
	// Relay makes the data plane forward relay messages between peers
	// and accept relayed ones (relay.go); without it both are dropped.
	Relay bool
	// ByNodeID maps node ids to the direct peers this node relays to
	// (peers that announced relaying).
	ByNodeID map[wire.NodeID]*Peer
	// Relayed maps relayed paths to their peers.
	Relayed map[RelayKey]*Peer
}

// dstKey and srcKey extract the addresses the snapshot routes by.
func (s *Snapshot) dstKey(pkt []byte) (route.Key, error) {
	if s.TAP {
		return route.MACDst(pkt)
	}
	return route.IPDst(pkt)
}

func (s *Snapshot) srcKey(pkt []byte) (route.Key, error) {
	if s.TAP {
		return route.MACSrc(pkt)
	}
	return route.IPSrc(pkt)
}

// has reports whether p is a peer of this snapshot (learned entries may
// name peers that are gone).
func (s *Snapshot) has(p *Peer) bool { return p != nil && s.ByAddr[p.Addr] == p }

// lookupDst returns the peer for the destination of pkt: the learned one
// (switch mode), else the one claiming it (longest prefix); flood is true
// when nobody does and the snapshot floods. c remembers the last claimed
// destination of the batch (the segments of a TCP stream share it), so a
// run of packets to one address costs one table lookup.
func (p *Pipeline) lookupDst(s *Snapshot, pkt []byte, now int64, c *dstCache) (peer *Peer, flood bool, err error) {
	k, err := s.dstKey(pkt)
	if err != nil {
		return nil, false, err
	}
	if s.Learning {
		if lp := p.learned.lookup(k, now); s.has(lp) {
			return lp, false, nil
		}
	} else if c.peer != nil && k == c.key {
		return c.peer, false, nil
	}
	if lp, ok := s.Routes.Lookup(k); ok {
		if !s.Learning {
			c.key, c.peer = k, lp
		}
		return lp, false, nil
	}
	return nil, s.Flood && len(s.Peers) > 0, nil
}

// dstCache is lookupDst's memory of the last claimed destination within
// one batch (one snapshot). Switch mode does not use it: a learned
// address may take over a claimed one at any packet.
type dstCache struct {
	key  route.Key
	peer *Peer
}
