package pipeline

import (
	"errors"
	"net/netip"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/udpio"
	"github.com/peercloud/peercloud/wire"
)

// Relaying (see wire.TypeRelay): a node reaches a peer it cannot reach
// directly through a third node, the relay. The relayed peer is a Peer with
// Via set: its session is end to end between the two nodes, and every
// datagram of that session travels sealed a second time, inside a relay
// message of the session with Via:
//
//	to the relay:    Via seal( TypeRelay ‖ destination node id ‖ inner datagram )
//	from the relay:  seal( TypeRelayed ‖ source node id ‖ inner datagram )
//
// The relay opens only the outer layer, swaps the node id, and seals the
// message in place for the destination (openBatch; the inbound writer
// sends it). It never holds the inner session.

// relayRoom is the headroom a relayed packet needs in front of the inner
// datagram: the outer header, the type byte and the node id.
const relayRoom = aead.HeaderLen + 1 + wire.RelayHeaderLen

// RelayOverhead is how much longer a relayed datagram is than a direct one.
const RelayOverhead = relayRoom + aead.TagLen

// RelayKey names a relayed path: the relay's address and the node at the
// other end.
type RelayKey struct {
	Via  netip.AddrPort
	Node wire.NodeID
}

var errRelayRoom = errors.New("pipeline: no room for the relay header")

// offsetIn is the offset of sub within buf (sub must be a subslice of buf
// that ends at buf's capacity).
func offsetIn(buf, sub []byte) int { return cap(buf) - cap(sub) }

// sealFor seals the n-byte plaintext (type byte + body) at
// buf[relayRoom+aead.HeaderLen:] for peer: directly with its session, and for
// a relayed peer once more inside a relay message for its relay. It returns
// the wire datagram (a subslice of buf) and the address to send it to. buf
// needs room for two tags after the plaintext.
func sealFor(peer *Peer, buf []byte, n int) ([]byte, netip.AddrPort, error) {
	inner, err := peer.Session.Seal(buf[relayRoom:], n)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	if peer.Via == nil {
		return inner, peer.Addr, nil
	}
	return wrapRelay(peer.Via, peer.NodeID, buf, inner)
}

// wrapRelay seals the datagram inner (a subslice of buf with at least
// relayRoom bytes of buf in front of it) in a relay message to via for
// node.
func wrapRelay(via *Peer, node wire.NodeID, buf, inner []byte) ([]byte, netip.AddrPort, error) {
	start := offsetIn(buf, inner) - relayRoom
	if start < 0 {
		return nil, netip.AddrPort{}, errRelayRoom
	}
	hdr := buf[start:]
	hdr[aead.HeaderLen] = wire.TypeRelay
	copy(hdr[aead.HeaderLen+1:], node[:])
	out, err := via.Session.Seal(hdr, 1+wire.RelayHeaderLen+len(inner))
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return out, via.Addr, nil
}

// openRelay handles an authenticated relay message from a peer (pt, the
// plaintext within s.buf, starts with TypeRelay or TypeRelayed) and sets
// the slot's verdict: forward it (relay), or unwrap and open the inner
// datagram (relayed to us).
func (p *Pipeline) openRelay(snap *Snapshot, s *slot, pt []byte) {
	if !snap.Relay || s.peer.Via != nil || len(pt) < 1+wire.RelayHeaderLen+1 {
		s.verdict = vDrop
		p.ctr.DropRelay.Add(1)
		return
	}
	var node wire.NodeID
	copy(node[:], pt[1:1+wire.RelayHeaderLen])
	if pt[0] == wire.TypeRelay {
		p.forwardRelay(snap, s, pt, node)
		return
	}
	inner := pt[1+wire.RelayHeaderLen:]
	if inner[0] == wire.InitByte {
		// A handshake through the relay: the control plane decides.
		s.out, s.verdict, s.init, s.relayed, s.node = inner, vControl, true, true, node
		return
	}
	vp := snap.Relayed[RelayKey{Via: s.peer.Addr, Node: node}]
	if vp == nil {
		s.verdict = vDrop
		p.ctr.DropUnknownPeer.Add(1)
		return
	}
	pt2, err := vp.Session.Open(inner)
	if err != nil || len(pt2) == 0 {
		s.verdict = vDrop
		p.countOpenFailure(err)
		return
	}
	vp.Stats.InPackets.Add(1)
	vp.Stats.InBytes.Add(uint64(len(inner)))
	s.peer, s.addr, s.out = vp, vp.Addr, pt2
	switch pt2[0] {
	case wire.TypeData:
		s.verdict = vDeliver
	case wire.TypeRelay, wire.TypeRelayed:
		// No relaying over relayed paths.
		s.verdict = vDrop
		p.ctr.DropRelay.Add(1)
	default:
		s.verdict = vControl
	}
}

// forwardRelay turns a relay message from s.peer into a relayed message
// for the destination node, sealed in place for it.
func (p *Pipeline) forwardRelay(snap *Snapshot, s *slot, pt []byte, dst wire.NodeID) {
	to := snap.ByNodeID[dst]
	if to == nil || to == s.peer {
		s.verdict = vDrop
		p.ctr.DropRelay.Add(1)
		return
	}
	pt[0] = wire.TypeRelayed
	copy(pt[1:], s.peer.NodeID[:])
	start := offsetIn(s.buf, pt) - aead.HeaderLen
	out, err := to.Session.Seal(s.buf[start:], len(pt))
	if err != nil {
		s.verdict = vDrop
		p.ctr.DropSealFailed.Add(1)
		return
	}
	s.out, s.addr, s.peer, s.verdict = out, to.Addr, to, vForward
}

// forward sends relay messages sealed for their destinations (the inbound
// writer's work, under in.writeMu).
func (p *Pipeline) forward(msgs []udpio.Message) {
	for sent := 0; sent < len(msgs); {
		n, err := p.conn.WriteBatch(msgs[sent:])
		if err != nil {
			if !p.isClosed(err) && p.debugOK() {
				p.log.Debug("forwarding relay messages failed", zap.Error(err))
			}
			p.ctr.DropWriteFailed.Add(uint64(len(msgs) - sent))
			return
		}
		for _, m := range msgs[sent : sent+n] {
			p.ctr.NetOutBytes.Add(uint64(m.N))
		}
		sent += n
		p.ctr.Relayed.Add(uint64(n))
		p.ctr.NetOut.Add(uint64(n))
	}
}
