package control

import (
	"net/netip"
	"time"

	"github.com/peercloud/peercloud/pipeline"
)

// Event kinds, named as VpnCloud's hook events.
const (
	EventPeerConnecting   = "peer_connecting"
	EventPeerConnected    = "peer_connected"
	EventPeerDisconnected = "peer_disconnected"
)

// Event is something that happened to a peer, for hooks and logs.
type Event struct {
	Kind   string         // one of the Event* constants
	Peer   netip.AddrPort // the peer's address
	NodeID string         // hex node id, when known
	Claims []string       // the peer's claims (peer_connected)
	Reason string         // why a peer was disconnected: "close", "timeout", ...
}

// emit passes ev to the configured event sink.
func (n *Node) emit(ev Event) {
	if n.cfg.Events != nil {
		n.cfg.Events(ev)
	}
}

// PeerStatus describes one peer for status reports.
type PeerStatus struct {
	Addr string
	// Via is the address of the peer relaying this peer's traffic, empty
	// for a direct peer. Addr is then a placeholder address in 100::/64
	// (RFC 6666's discard prefix) that names the relayed path.
	Via         string
	NodeID      string
	Algorithm   string
	Extended    bool // peercloud's HKDF key schedule is in use
	Initiator   bool // this node sent the ping
	Claims      []string
	Connected   time.Time // when the handshake completed
	LastSeen    time.Time // last node info or keepalive
	PeerTimeout int       // seconds the peer asked for
	KeyTime     time.Time // when the newest key (handshake or rotation) was installed
	Rotations   uint64    // rotated keys installed for this peer
	// Traffic is the data plane's live counters for this peer.
	Traffic *pipeline.PeerStats
}
