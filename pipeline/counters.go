package pipeline

import "sync/atomic"

// Counters are the data plane's global counters. Every dropped packet is
// counted under exactly one reason.
type Counters struct {
	DeviceIn, DeviceInBytes   atomic.Uint64 // packets read from the device
	DeviceOut, DeviceOutBytes atomic.Uint64 // packets written to the device
	NetIn, NetInBytes         atomic.Uint64 // datagrams received
	NetOut, NetOutBytes       atomic.Uint64 // datagrams sent by the data plane
	ToControl                 atomic.Uint64 // packets handed to the control plane
	Flooded                   atomic.Uint64 // device packets sent to every peer (switch/hub)

	DropNoRoute     atomic.Uint64 // device packet with no peer claiming its destination
	DropMalformed   atomic.Uint64 // device packet whose addresses can't be parsed
	DropUnknownPeer atomic.Uint64 // non-handshake datagram from an address that is no peer
	DropAuth        atomic.Uint64 // datagram that failed authentication (or was too short)
	DropReplay      atomic.Uint64 // datagram rejected by the replay window
	DropControlFull atomic.Uint64 // control channel full
	DropSealFailed  atomic.Uint64 // sealing failed (peer session without a key)
	DropWriteFailed atomic.Uint64 // device or socket write error
	DropUnknownType atomic.Uint64 // authenticated message of a type nobody handles
	Relayed         atomic.Uint64 // relay messages forwarded from one peer to another
	DropRelay       atomic.Uint64 // relay message not forwarded or accepted (relaying off, unknown node, malformed)
	DropTooBig      atomic.Uint64 // device packet too big for a relayed path, with DF or IPv6 (toobig.go)
	TooBigSent      atomic.Uint64 // ICMP "too big" errors written back into the device
}

// CounterValues is a plain copy of Counters for reports.
type CounterValues struct {
	DeviceIn, DeviceInBytes, DeviceOut, DeviceOutBytes           uint64
	NetIn, NetInBytes, NetOut, NetOutBytes, ToControl, Flooded   uint64
	DropNoRoute, DropMalformed, DropUnknownPeer, DropAuth        uint64
	DropReplay, DropControlFull, DropSealFailed, DropWriteFailed uint64
	DropUnknownType, Relayed, DropRelay, DropTooBig, TooBigSent  uint64
}

// Values returns a snapshot of the counters.
func (c *Counters) Values() CounterValues {
	return CounterValues{
		DeviceIn: c.DeviceIn.Load(), DeviceInBytes: c.DeviceInBytes.Load(),
		DeviceOut: c.DeviceOut.Load(), DeviceOutBytes: c.DeviceOutBytes.Load(),
		NetIn: c.NetIn.Load(), NetInBytes: c.NetInBytes.Load(),
		NetOut: c.NetOut.Load(), NetOutBytes: c.NetOutBytes.Load(),
		ToControl: c.ToControl.Load(), Flooded: c.Flooded.Load(),
		DropNoRoute: c.DropNoRoute.Load(), DropMalformed: c.DropMalformed.Load(),
		DropUnknownPeer: c.DropUnknownPeer.Load(), DropAuth: c.DropAuth.Load(),
		DropReplay: c.DropReplay.Load(), DropControlFull: c.DropControlFull.Load(),
		DropSealFailed: c.DropSealFailed.Load(), DropWriteFailed: c.DropWriteFailed.Load(),
		DropUnknownType: c.DropUnknownType.Load(), Relayed: c.Relayed.Load(), DropRelay: c.DropRelay.Load(),
		DropTooBig: c.DropTooBig.Load(), TooBigSent: c.TooBigSent.Load(),
	}
}

// peerRun adds up the packets and bytes of consecutive packets of one peer,
// so a batch costs one atomic add per peer run instead of one per packet
// (the counters' cache lines are shared with the other stages).
type peerRun struct {
	peer           *Peer
	packets, bytes uint64
	out            bool // set at the start: the Out counters, else the In ones
}

// count adds one packet of n bytes of peer; a different peer than the
// run's flushes the run first.
func (r *peerRun) count(peer *Peer, n int) {
	if peer != r.peer {
		r.flush()
		r.peer = peer
	}
	r.packets++
	r.bytes += uint64(n)
}

// flush adds the run to its peer's counters and starts an empty one.
func (r *peerRun) flush() {
	if r.peer != nil && r.packets > 0 {
		if r.out {
			r.peer.Stats.OutPackets.Add(r.packets)
			r.peer.Stats.OutBytes.Add(r.bytes)
		} else {
			r.peer.Stats.InPackets.Add(r.packets)
			r.peer.Stats.InBytes.Add(r.bytes)
		}
	}
	r.peer, r.packets, r.bytes = nil, 0, 0
}
