package control

import (
	"net/netip"
	"slices"
	"time"

	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/route"
	"github.com/peercloud/peercloud/wire"
)

// publish builds a new immutable snapshot from the peers and their claims
// and hands it to the data plane.
func (n *Node) publish() {
	n.snapshotDirty = false
	snap := &pipeline.Snapshot{
		ByAddr:   make(map[netip.AddrPort]*pipeline.Peer, len(n.peers)),
		TAP:      n.cfg.TAP,
		Learning: n.cfg.Learning,
		Flood:    n.cfg.Flood,
		Peers:    make([]*pipeline.Peer, 0, len(n.peers)),
		Relay:    n.cfg.Relay,
	}
	if n.cfg.Relay {
		snap.ByNodeID = make(map[wire.NodeID]*pipeline.Peer)
		snap.Relayed = make(map[pipeline.RelayKey]*pipeline.Peer)
	}
	var prefixes []netip.Prefix
	var entries []route.Entry[*pipeline.Peer]
	status := make([]PeerStatus, 0, len(n.peers))
	for addr, p := range n.peers {
		snap.ByAddr[addr] = p.dp
		snap.Peers = append(snap.Peers, p.dp)
		if n.cfg.Relay {
			if p.via.IsValid() {
				snap.Relayed[pipeline.RelayKey{Via: p.via, Node: p.nodeID}] = p.dp
			} else if p.hs.PeerRelays() {
				snap.ByNodeID[p.nodeID] = p.dp
			}
		}
		st := n.peerStatus(p)
		st.Claims = nil
		for _, c := range p.claims {
			entries = append(entries, route.Entry[*pipeline.Peer]{Prefix: keyOf(c.Base), Bits: c.PrefixLen, Value: p.dp})
			st.Claims = append(st.Claims, c.String())
			if ip, ok := c.Base.IP(); ok {
				prefixes = append(prefixes, netip.PrefixFrom(ip, int(c.PrefixLen)).Masked())
			}
		}
		status = append(status, st)
	}
	snap.Routes = route.NewTable(entries)
	n.dp.Publish(snap)
	n.stats.v.Store(&status)
	slices.SortFunc(prefixes, comparePrefix)
	prefixes = slices.Compact(prefixes)
	if n.cfg.RoutesChanged != nil && !slices.Equal(prefixes, n.routes) {
		n.routes = prefixes
		n.cfg.RoutesChanged(slices.Clone(prefixes))
	}
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func keyOf(a wire.Address) route.Key { return route.Key{Len: a.Len, Data: a.Data} }

func (n *Node) peerStatus(p *peer) PeerStatus {
	st := PeerStatus{
		Addr: p.addr.String(), NodeID: fmtNodeID(p.nodeID), Algorithm: p.hs.Algorithm().String(),
		Extended: p.hs.Extended(), Initiator: p.hs.Initiator(), Connected: time.Unix(p.connected, 0),
		LastSeen: time.Unix(p.lastSeen, 0), PeerTimeout: p.peerTimeout, Traffic: &p.dp.Stats,
		KeyTime: time.Unix(p.keyTime, 0), Rotations: p.rotations,
	}
	for _, c := range p.claims {
		st.Claims = append(st.Claims, c.String())
	}
	if p.via.IsValid() {
		st.Via = p.via.String()
	}
	return st
}
