package pipeline

import (
	"net/netip"
	"sync/atomic"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/route"
)

// Peer is the data plane's view of one connected peer. The control goroutine
// creates it when a handshake completes and shares it through Snapshots; its
// fields are immutable, only the counters change (atomically).
type Peer struct {
	Addr    netip.AddrPort
	Session *aead.Session
	Stats   PeerStats
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
}

// lookupDst returns the peer that claims the destination of pkt.
func (s *Snapshot) lookupDst(pkt []byte) (*Peer, error) {
	var (
		k   route.Key
		err error
	)
	if s.TAP {
		k, err = route.MACDst(pkt)
	} else {
		k, err = route.IPDst(pkt)
	}
	if err != nil {
		return nil, err
	}
	if s.Routes == nil {
		return nil, nil
	}
	p, _ := s.Routes.Lookup(k)
	return p, nil
}
