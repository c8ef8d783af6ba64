package control

import (
	"slices"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/wire"
)

// Runtime reconfiguration (SIGHUP). These methods change what a running node
// trusts, which configured peers it keeps reconnecting to and what it
// claims. Like every other method of Node they must run on the control
// goroutine: from another goroutine call them inside Do.

// SetTrusted replaces the trusted public keys (empty: the node's own key
// only, as at start). Handshakes started from now on accept only these
// keys; handshakes in progress are abandoned (they checked the old list) and
// established peers whose key is no longer trusted are disconnected. It
// returns the number of peers removed.
func (n *Node) SetTrusted(keys []handshake.PublicKey) int {
	hs := *n.hs // handshake.Config is read-only once in use: replace, never modify
	hs.Trusted = slices.Clone(keys)
	n.hs = &hs
	n.trusted = hs.Trusted
	if len(n.trusted) == 0 && hs.Identity != nil {
		n.trusted = []handshake.PublicKey{hs.Identity.Public()}
	}
	for addr := range n.pending {
		delete(n.pending, addr)
		n.emit(Event{Kind: EventPeerDisconnected, Peer: addr, Reason: "trusted keys changed"})
	}
	removed := 0
	for _, p := range n.peers {
		if !slices.Contains(n.trusted, p.hs.PeerKey()) {
			n.removePeer(p, "key no longer trusted")
			removed++
		}
	}
	// Configured peers are retried at once with the new keys.
	for _, e := range n.reconnect {
		e.tries, e.timeout, e.next = 0, 1, n.now
	}
	return removed
}

// Trusted returns a copy of the keys the node trusts now (its own key when
// none are configured).
func (n *Node) Trusted() []handshake.PublicKey { return slices.Clone(n.trusted) }

// SetPeers replaces the configured peer addresses (the reconnect list, in
// the same syntax as Config.Peers). Addresses kept from the old list keep
// their backoff state; new ones are resolved and connected on the next
// tick; removed ones are no longer retried (a connection to one of them
// stays until it fails: the mesh may still know it).
func (n *Node) SetPeers(addrs []string) {
	old := n.reconnect
	n.reconnect = make([]*reconnectEntry, 0, len(addrs))
	for _, a := range addrs {
		i := slices.IndexFunc(old, func(e *reconnectEntry) bool { return e.address == a })
		if i >= 0 {
			n.reconnect = append(n.reconnect, old[i])
			continue
		}
		if slices.ContainsFunc(n.reconnect, func(e *reconnectEntry) bool { return e.address == a }) {
			continue
		}
		n.reconnect = append(n.reconnect, &reconnectEntry{address: a, timeout: 1, next: n.now})
	}
	n.cfg.Peers = slices.Clone(addrs)
}

// ConfiguredPeers returns the configured peer addresses.
func (n *Node) ConfiguredPeers() []string {
	out := make([]string, len(n.reconnect))
	for i, e := range n.reconnect {
		out[i] = e.address
	}
	return out
}

// SetClaims replaces the ranges this node claims and tells every peer at
// once (a node-info message), so their routes follow without waiting for
// the next keepalive.
func (n *Node) SetClaims(claims []wire.Range) {
	n.cfg.Claims = slices.Clone(claims)
	n.broadcastNodeInfo()
	n.log.Debug("claims changed, peers told", zap.Int("peers", len(n.peers)))
}

// Claims returns the ranges this node claims.
func (n *Node) Claims() []wire.Range { return slices.Clone(n.cfg.Claims) }
