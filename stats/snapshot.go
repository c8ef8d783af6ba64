package stats

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/pipeline"
)

// Source is where the figures come from. Its functions are called from
// the reporter's goroutine and must be safe for that.
type Source struct {
	// Peers returns the connected peers (required).
	Peers func() []control.PeerStatus
	// Data returns the data plane's counters (required).
	Data func() pipeline.CounterValues
	// Control is the control plane's counters (optional).
	Control *control.Counters
}

// Traffic is bytes and packets in both directions.
type Traffic struct {
	InBytes, InPackets, OutBytes, OutPackets uint64
}

func (t Traffic) sub(o Traffic) Traffic {
	return Traffic{sub(t.InBytes, o.InBytes), sub(t.InPackets, o.InPackets),
		sub(t.OutBytes, o.OutBytes), sub(t.OutPackets, o.OutPackets)}
}

// sub is a-b, or a when the counter went backwards (a new peer object).
func sub(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return a - b
}

// Peer is one connected peer in a Snapshot.
type Peer struct {
	Addr      string // as VpnCloud prints it (IPv4-mapped addresses unmapped)
	NodeID    string
	Algorithm string
	Claims    []string
	TTL       int64   // seconds until the peer times out unless heard from
	Period    Traffic // since the previous snapshot
	Total     Traffic // since the peer connected
}

// Claim is one claimed range and the peer claiming it.
type Claim struct {
	Claim, Peer string
	TTL         int64
}

// ControlValues is a copy of control.Counters.
type ControlValues struct {
	Connected, Disconnected, TimedOut, Invalid, Stale, SendFailed uint64
}

// Snapshot is the node's statistics at one moment.
type Snapshot struct {
	Time     time.Time
	Interval time.Duration // the reporting interval (for the rates shown)

	Peers  []Peer  // sorted by traffic in the period, busiest first (VpnCloud's order)
	Claims []Claim // every peer's claims

	// Protocol is datagrams on the socket and Payload packets on the
	// device, in the period; Invalid counts datagrams rejected (VpnCloud's
	// invalid_protocol_traffic) and DroppedPayload device packets dropped
	// (VpnCloud's dropped_payload), both in the period, packets only.
	Protocol, Payload       Traffic
	Invalid, DroppedPayload uint64

	// Data and Control are the running totals.
	Data    pipeline.CounterValues
	Control ControlValues
}

// Drop is a number of packets dropped for one reason.
type Drop struct {
	Reason string
	Count  uint64
}

// Drops lists the data plane's drops by reason, in a fixed order with
// fixed reason names (shared by the stats file and the metrics).
func Drops(v pipeline.CounterValues) [11]Drop {
	return [11]Drop{
		{"no_route", v.DropNoRoute}, {"malformed", v.DropMalformed},
		{"unknown_peer", v.DropUnknownPeer}, {"auth", v.DropAuth},
		{"replay", v.DropReplay}, {"control_full", v.DropControlFull},
		{"seal_failed", v.DropSealFailed}, {"write_failed", v.DropWriteFailed},
		{"unknown_type", v.DropUnknownType}, {"relay", v.DropRelay},
		{"too_big", v.DropTooBig},
	}
}

// invalid is VpnCloud's invalid protocol traffic: datagrams from the
// network that were rejected, plus invalid control messages.
func invalid(v pipeline.CounterValues, c ControlValues) uint64 {
	return v.DropUnknownPeer + v.DropAuth + v.DropReplay + v.DropUnknownType + c.Invalid
}

// droppedPayload is VpnCloud's dropped payload: device packets that could
// not be sent.
func droppedPayload(v pipeline.CounterValues) uint64 {
	return v.DropNoRoute + v.DropMalformed + v.DropSealFailed + v.DropTooBig
}

// Collector builds Snapshots, remembering the previous one for the
// per-period figures. Not safe for concurrent use.
type Collector struct {
	src         Source
	peerTimeout time.Duration
	interval    time.Duration
	prevData    pipeline.CounterValues
	prevCtl     ControlValues
	prevPeers   map[*pipeline.PeerStats]Traffic
}

// NewCollector returns a Collector reading src; peerTimeout is this node's
// peer timeout (for the peers' TTL) and interval the reporting interval.
func NewCollector(src Source, peerTimeout, interval time.Duration) *Collector {
	return &Collector{src: src, peerTimeout: peerTimeout, interval: interval,
		prevPeers: map[*pipeline.PeerStats]Traffic{}}
}

// Collect builds the snapshot at now.
func (c *Collector) Collect(now time.Time) *Snapshot {
	s := &Snapshot{Time: now, Interval: c.interval, Data: c.src.Data()}
	if cc := c.src.Control; cc != nil {
		s.Control = ControlValues{cc.Connected.Load(), cc.Disconnected.Load(), cc.TimedOut.Load(),
			cc.Invalid.Load(), cc.Stale.Load(), cc.SendFailed.Load()}
	}
	d, p := s.Data, c.prevData
	s.Protocol = Traffic{d.NetInBytes, d.NetIn, d.NetOutBytes, d.NetOut}.sub(Traffic{p.NetInBytes, p.NetIn, p.NetOutBytes, p.NetOut})
	s.Payload = Traffic{d.DeviceOutBytes, d.DeviceOut, d.DeviceInBytes, d.DeviceIn}.sub(
		Traffic{p.DeviceOutBytes, p.DeviceOut, p.DeviceInBytes, p.DeviceIn})
	s.Invalid = sub(invalid(d, s.Control), invalid(p, c.prevCtl))
	s.DroppedPayload = sub(droppedPayload(d), droppedPayload(p))
	c.prevData, c.prevCtl = d, s.Control

	seen := make(map[*pipeline.PeerStats]Traffic, len(c.prevPeers))
	for _, ps := range c.src.Peers() {
		pe := Peer{Addr: niceAddr(ps.Addr), NodeID: ps.NodeID, Algorithm: ps.Algorithm, Claims: ps.Claims,
			TTL: int64(ps.LastSeen.Add(c.peerTimeout).Sub(now) / time.Second)}
		if t := ps.Traffic; t != nil {
			pe.Total = Traffic{t.InBytes.Load(), t.InPackets.Load(), t.OutBytes.Load(), t.OutPackets.Load()}
			pe.Period = pe.Total.sub(c.prevPeers[t])
			seen[t] = pe.Total
		}
		s.Peers = append(s.Peers, pe)
		for _, cl := range ps.Claims {
			s.Claims = append(s.Claims, Claim{Claim: cl, Peer: pe.Addr, TTL: pe.TTL})
		}
	}
	c.prevPeers = seen
	slices.SortStableFunc(s.Peers, func(a, b Peer) int {
		ta, tb := a.Period.InBytes+a.Period.OutBytes, b.Period.InBytes+b.Period.OutBytes
		switch {
		case ta > tb:
			return -1
		case ta < tb:
			return 1
		}
		return strings.Compare(a.Addr, b.Addr)
	})
	slices.SortFunc(s.Claims, func(a, b Claim) int { return strings.Compare(a.Claim, b.Claim) })
	return s
}

// niceAddr prints a peer address as VpnCloud's addr_nice: IPv4-mapped
// IPv6 as IPv4. Strings that are no address are kept.
func niceAddr(s string) string {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return s
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}
