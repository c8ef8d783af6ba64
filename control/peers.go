package control

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/wire"
)

const (
	headerRoom = aead.HeaderLen
	tagRoom    = aead.TagLen
)

// handlePacket dispatches one packet from the data plane.
func (n *Node) handlePacket(ctx context.Context, cp pipeline.ControlPacket) {
	from := unmap(cp.From)
	if cp.Unknown {
		n.handleUnknown(from)
		return
	}
	if cp.Init {
		// A plain-mode peer's close message is a lone 0xFF: it can't be
		// told from a handshake before it is looked at.
		if p := n.peers[from]; p != nil && p.hs.Algorithm() == aead.Plain && len(cp.Data) == 1 {
			n.removePeer(p, "peer closed the connection")
			return
		}
		if cp.Relayed {
			var ok bool
			if from, ok = n.relayedFrom(from, cp.RelayNode); !ok {
				n.Counters.Invalid.Add(1)
				return
			}
		}
		n.handleInit(ctx, from, cp.Data)
		return
	}
	p := n.peers[from]
	if p == nil || p.dp != cp.Peer || len(cp.Data) == 0 {
		// The peer was replaced or removed since the data plane looked.
		n.Counters.Stale.Add(1)
		return
	}
	body := cp.Data[1:]
	switch cp.Data[0] {
	case wire.TypeNodeInfo:
		info, err := wire.DecodeNodeInfo(body)
		if err != nil {
			n.Counters.Invalid.Add(1)
			n.log.Debug("invalid node info", zap.Stringer("peer", from), zap.Error(err))
			return
		}
		n.updatePeer(ctx, p, info)
	case wire.TypeKeepalive:
		n.updatePeer(ctx, p, nil)
	case wire.TypeClose:
		n.removePeer(p, "peer closed the connection")
	case wire.TypeRotation:
		if err := p.hs.HandleRotation(body); err != nil {
			n.Counters.Invalid.Add(1)
			n.log.Debug("invalid key rotation message", zap.Stringer("peer", from), zap.Error(err))
		}
		n.noteRotations(p)
	default:
		n.Counters.Invalid.Add(1)
		n.log.Debug("unknown message type", zap.Stringer("peer", from), zap.Uint8("type", cp.Data[0]))
	}
}

// handleUnknown answers traffic from an address that is no peer with a
// handshake: the sender still holds a session with a previous run of this
// node, and would otherwise keep sending into the void until its peer
// timeout (VpnCloud's behaviour). At most one attempt per address every
// unknownRetry seconds, and the table of attempts is bounded.
func (n *Node) handleUnknown(from netip.AddrPort) {
	if n.peers[from] != nil || n.pending[from] != nil {
		return
	}
	if last, ok := n.unknownSeen[from]; ok && n.now-last < unknownRetry {
		return
	}
	if len(n.unknownSeen) >= maxUnknownSeen {
		clear(n.unknownSeen)
	}
	n.unknownSeen[from] = n.now
	n.log.Debug("traffic from an unknown address, offering a handshake", zap.Stringer("from", from))
	n.connectTo(from)
}

// handleInit processes a handshake message, as VpnCloud's handle_net_message:
// a pending handshake takes it, else an established peer still in its
// handshake, else it starts a new responder handshake.
func (n *Node) handleInit(ctx context.Context, from netip.AddrPort, pkt []byte) {
	hs := n.pending[from]
	existing := n.peers[from]
	// An established peer still finishing its handshake takes the message
	// (repeats of lost messages), unless it is a new ping: then the peer has
	// restarted and gets a fresh handshake at once. (VpnCloud answers it
	// with the old peng for the 60 s its init state lingers, and the
	// restarted peer stays locked out that long.) The old session keeps
	// working until the new one is established.
	if hs == nil && existing != nil && existing.hs.HasInit() && !n.isPing(pkt) {
		hs = existing.hs
	}
	isNew := false
	if hs == nil {
		var err error
		hs, err = handshake.NewPeer(n.hs, n.nodeInfoPayload())
		if err != nil {
			n.log.Error("creating handshake failed", zap.Error(err))
			return
		}
		isNew = true
	}
	res, err := hs.HandleInit(pkt)
	if err != nil {
		for _, r := range res.Replies {
			n.send(from, r)
		}
		n.Counters.Invalid.Add(1)
		// A stray message (a repeated pong or peng of a handshake that is
		// over, typical when both sides connect at once) fails a fresh
		// handshake at once: not worth more than a debug line.
		if handshake.IsFatal(err) && !(isNew && errors.Is(err, handshake.ErrInvalidState)) {
			n.log.Info("handshake failed", zap.Stringer("peer", from), zap.Error(err))
			if n.pending[from] != nil {
				delete(n.pending, from)
				if !n.probes[from] {
					n.emit(Event{Kind: EventPeerDisconnected, Peer: from, Reason: "handshake failed"})
				}
				delete(n.probes, from)
			}
		} else if errors.Is(err, handshake.ErrUntrustedKey) && n.untrustedLog(from) {
			// Most likely a node with another password or key list: say
			// so, at most once a minute per address.
			n.log.Info("refusing a handshake signed by an untrusted key (a node with another password or trusted keys?)",
				zap.Stringer("peer", from))
		} else {
			n.log.Debug("ignoring invalid handshake message", zap.Stringer("peer", from), zap.Error(err))
		}
		return
	}
	if isNew {
		n.log.Debug("peer connecting", zap.Stringer("peer", from))
		n.pending[from] = hs
		n.emit(Event{Kind: EventPeerConnecting, Peer: from})
	}
	if res.Established && (n.peers[from] == nil || n.peers[from].hs != hs) {
		n.addPeer(ctx, from, hs)
		// The data plane must know the session before the peer can
		// answer our reply with sealed messages.
		n.publish()
	}
	for _, r := range res.Replies {
		n.send(from, r)
	}
}

// isPing reports whether pkt is a valid, trusted ping.
func (n *Node) isPing(pkt []byte) bool {
	msg, _, err := handshake.ParseInit(pkt, n.trusted)
	return err == nil && msg.Stage == handshake.StagePing
}

// addPeer turns an established handshake into a peer.
func (n *Node) addPeer(ctx context.Context, addr netip.AddrPort, hs *handshake.Peer) {
	delete(n.pending, addr)
	delete(n.probes, addr)
	info, err := wire.DecodeNodeInfo(hs.PeerPayload())
	if err != nil {
		n.Counters.Invalid.Add(1)
		n.log.Info("peer sent an invalid node info in its handshake", zap.Stringer("peer", addr), zap.Error(err))
		return
	}
	var via *peer
	if k, ok := n.virtKey[addr]; ok {
		// A relayed handshake: the relay must still be there, the node
		// must be the one the path names, and not directly connected.
		via = n.peers[k.Via]
		reason := ""
		switch {
		case via == nil:
			reason = "relay gone"
		case k.Node != info.NodeID:
			reason = "node id differs from the relayed path's"
		case n.directPeer(info.NodeID) != nil:
			reason = "already connected directly"
		}
		if reason != "" {
			n.log.Debug("refusing relayed peer", zap.Stringer("peer", addr), zap.String("reason", reason))
			n.closeSession(addr, hs)
			return
		}
	}
	if old := n.peers[addr]; old != nil {
		n.removePeer(old, "peer reconnected")
	}
	if via == nil {
		// The same node at another address: its NAT mapping (or its
		// address) moved, and the old entry would compete for its claims
		// until the peer timeout. No close goes there: the old address may
		// reach nothing, or a mapping the node no longer uses.
		for _, q := range n.peers {
			if q.nodeID == info.NodeID && !q.via.IsValid() {
				n.removePeer(q, "peer moved to "+addr.String())
			}
		}
	}
	p := &peer{
		addr:        addr,
		hs:          hs,
		dp:          &pipeline.Peer{Addr: addr, Session: hs.Session(), NodeID: info.NodeID},
		nodeID:      info.NodeID,
		peerTimeout: DefaultPeerTimeout,
		connected:   n.now,
		keyTime:     n.now,
		rotations:   hs.Rotations(),
	}
	if info.HasPeerTimeout {
		p.peerTimeout = int(info.PeerTimeout)
	}
	if via != nil {
		p.via, p.dp.Via = via.addr, via.dp
	}
	n.peers[addr] = p
	if via == nil && n.cfg.Relay {
		n.dropRelayedTo(info.NodeID)
	}
	n.snapshotDirty = true
	n.Counters.Connected.Add(1)
	// Tell everyone about the newcomer at the next tick instead of at the
	// next keepalive interval: nodes that join at once each got a peer
	// list without the others, and the mesh would wait for the first
	// broadcast (VpnCloud: up to 90 s by default). Node info is sent at
	// most once a tick, so a burst of joins costs one broadcast a second.
	n.nextPeers = min(n.nextPeers, n.now+1)
	if via != nil {
		n.log.Info("added peer through a relay", zap.Stringer("peer", addr), zap.Stringer("relay", via.addr),
			zap.String("node_id", fmtNodeID(info.NodeID)), zap.Stringer("algorithm", hs.Algorithm()))
	} else {
		n.log.Info("added peer", zap.Stringer("peer", addr), zap.String("node_id", fmtNodeID(info.NodeID)),
			zap.Stringer("algorithm", hs.Algorithm()), zap.Bool("extended", hs.Extended()))
	}
	n.updatePeer(ctx, p, info)
	claims := make([]string, len(p.claims))
	for i, c := range p.claims {
		claims[i] = c.String()
	}
	n.emit(Event{Kind: EventPeerConnected, Peer: addr, NodeID: fmtNodeID(p.nodeID), Claims: claims})
}

// updatePeer refreshes a peer's timeout and, with a node info, its
// addresses and claims, and connects to the peers it knows.
func (n *Node) updatePeer(ctx context.Context, p *peer, info *wire.NodeInfo) {
	p.lastSeen = n.now
	p.timeout = n.now + int64(n.cfg.PeerTimeout)
	if info == nil {
		return
	}
	p.addrs = p.addrs[:0]
	if !p.via.IsValid() {
		p.addrs = append(p.addrs, p.addr)
	}
	for _, a := range info.Addrs {
		a = unmap(a)
		if !slices.Contains(p.addrs, a) {
			p.addrs = append(p.addrs, a)
		}
	}
	if !slices.Equal(p.claims, info.Claims) {
		p.claims = info.Claims
		n.snapshotDirty = true
	}
	n.noteSightings(p, info.Peers)
	n.connectToPeers(ctx, info.Peers)
}

// removePeer forgets a peer and its claims at once.
func (n *Node) removePeer(p *peer, why string) {
	if n.peers[p.addr] != p {
		return
	}
	delete(n.peers, p.addr)
	n.snapshotDirty = true
	if !p.via.IsValid() {
		n.dropRelayedVia(p.addr)
	}
	n.Counters.Disconnected.Add(1)
	n.log.Info("removed peer", zap.Stringer("peer", p.addr), zap.String("reason", why))
	n.emit(Event{Kind: EventPeerDisconnected, Peer: p.addr, NodeID: fmtNodeID(p.nodeID), Reason: why})
}

// connectToPeers connects to the peers of a peer list we are not yet
// connected to (VpnCloud's connect_to_peers); entries naming this node teach
// us our own addresses.
func (n *Node) connectToPeers(ctx context.Context, list []wire.PeerInfo) {
outer:
	for _, pi := range list {
		for _, a := range pi.Addrs {
			if n.peers[unmap(a)] != nil {
				continue outer
			}
		}
		if pi.HasNodeID {
			if pi.NodeID == n.nodeID {
				for _, a := range pi.Addrs {
					n.addOwnAddr(unmap(a))
				}
				continue
			}
			for _, p := range n.peers {
				if p.nodeID == pi.NodeID {
					continue outer
				}
			}
		}
		n.connectAny(pi.Addrs)
	}
}

// connectAny starts a handshake with each address unless one of them is
// already a peer, pending or our own (VpnCloud's connect).
func (n *Node) connectAny(addrs []netip.AddrPort) {
	for _, a := range addrs {
		a = unmap(a)
		if n.isOwn(a) || n.peers[a] != nil || n.pending[a] != nil {
			return
		}
	}
	for _, a := range addrs {
		n.connectTo(unmap(a))
	}
}

// connectTo sends a ping to addr (VpnCloud's connect_sock).
func (n *Node) connectTo(addr netip.AddrPort) {
	if !addr.IsValid() || n.peers[addr] != nil || n.pending[addr] != nil || n.isOwn(addr) {
		return
	}
	hs, err := handshake.NewPeer(n.hs, n.nodeInfoPayload())
	if err != nil {
		n.log.Error("creating handshake failed", zap.Error(err))
		return
	}
	ping, err := hs.Start()
	if err != nil {
		n.log.Error("starting handshake failed", zap.Error(err))
		return
	}
	n.log.Debug("connecting", zap.Stringer("peer", addr))
	n.pending[addr] = hs
	if !n.probes[addr] {
		n.emit(Event{Kind: EventPeerConnecting, Peer: addr})
	}
	n.send(addr, ping)
}

// nodeInfo is what this node tells its peers (VpnCloud's create_node_info).
func (n *Node) nodeInfo() *wire.NodeInfo {
	ni := &wire.NodeInfo{
		NodeID:         n.nodeID,
		Claims:         n.cfg.Claims,
		PeerTimeout:    uint16(min(n.cfg.PeerTimeout, 65535)),
		HasPeerTimeout: true,
		Addrs:          n.ownAddrs,
	}
	for _, p := range n.peers {
		if p.via.IsValid() {
			continue // others cannot use our relayed paths
		}
		ni.Peers = append(ni.Peers, wire.PeerInfo{NodeID: p.nodeID, HasNodeID: true, Addrs: p.addrs})
	}
	if len(ni.Peers) > wire.MaxPeers {
		// VpnCloud sends a random subset of 20; map order is random enough
		// and changes from call to call.
		ni.Peers = ni.Peers[:wire.MaxPeers]
	}
	return ni
}

func (n *Node) nodeInfoPayload() []byte { return wire.AppendNodeInfo(nil, n.nodeInfo()) }

func (n *Node) isOwn(a netip.AddrPort) bool { return slices.Contains(n.ownAddrs, a) }

func (n *Node) addOwnAddr(a netip.AddrPort) {
	if a.IsValid() && !n.isOwn(a) {
		n.ownAddrs = append(n.ownAddrs, a)
	}
}

// unmap turns IPv4-mapped IPv6 addresses into plain IPv4 ones, so that one
// peer has one key whatever the socket reported.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// directPeer returns a direct peer with node id id, if any.
func (n *Node) directPeer(id wire.NodeID) *peer {
	for _, p := range n.peers {
		if p.nodeID == id && !p.via.IsValid() {
			return p
		}
	}
	return nil
}

// closeSession tells the other end of an established handshake that is
// not kept that it is closed.
func (n *Node) closeSession(addr netip.AddrPort, hs *handshake.Peer) {
	sess := hs.Session()
	if sess == nil {
		return
	}
	buf := make([]byte, headerRoom+1+tagRoom)
	buf[headerRoom] = wire.TypeClose
	if pkt, err := sess.Seal(buf, 1); err == nil {
		n.send(addr, pkt)
	}
}

// untrustedLog reports whether a handshake from an untrusted key at from
// may be logged now (once per untrustedLogInterval per address; the table
// is bounded like unknownSeen).
func (n *Node) untrustedLog(from netip.AddrPort) bool {
	if last, ok := n.untrustedSeen[from]; ok && n.now-last < untrustedLogInterval {
		return false
	}
	if len(n.untrustedSeen) >= maxUnknownSeen {
		clear(n.untrustedSeen)
	}
	n.untrustedSeen[from] = n.now
	return true
}
