package control

import "sync/atomic"

// Counters are the control plane's event counters; safe to read from any
// goroutine.
type Counters struct {
	Connected    atomic.Uint64 // handshakes completed into peers
	Disconnected atomic.Uint64 // peers removed (close, timeout, failure)
	TimedOut     atomic.Uint64 // peers removed for silence
	Invalid      atomic.Uint64 // invalid control messages and handshake messages
	Stale        atomic.Uint64 // messages from a peer that was already replaced or removed
	SendFailed   atomic.Uint64 // control datagrams the socket refused
	Rotations    atomic.Uint64 // rotated keys installed, all peers
}

// statsCell publishes the latest status for readers outside the control
// goroutine.
type statsCell struct{ v atomic.Pointer[[]PeerStatus] }

// Peers returns the peers as of the last published snapshot. Safe for
// concurrent use.
func (n *Node) Peers() []PeerStatus {
	if p := n.stats.v.Load(); p != nil {
		return *p
	}
	return nil
}
