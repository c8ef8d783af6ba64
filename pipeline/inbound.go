package pipeline

import (
	"errors"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/udpio"
	"github.com/peercloud/peercloud/wire"
)

// routineReadFromNet reads batches of datagrams from one socket shard,
// finds the sending peer of each and passes the batch on to the openers and
// the device writer.
func (p *Pipeline) routineReadFromNet(conn udpio.Conn) {
	defer p.wg.Done()
	readBatch, views := conn.ReadBatch, false
	if vr, ok := conn.(viewReader); ok && viewsPay(vr) {
		readBatch, views = vr.ReadBatchView, true
	}
	read, classify := p.netReader(readBatch, views)
	p.readLoop(&p.in, "network", read, classify, p.openBatch, p.deliverBatch)
}

// viewsPay tells whether a socket's datagrams are better read as views
// (ReadBatchView): only with GRO. Without it the datagrams are read into
// the slots anyway, and opening them in the reader would only take the
// work away from the crypto workers.
func viewsPay(c interface{ Offloads() udpio.Offloads }) bool { return c.Offloads().GRO }

// netReader returns the network reader's read and classify steps over
// readBatch, a socket's ReadBatch (or ReadBatchNoWait); with views,
// readBatch is a view read (ReadBatchView, ReadBatchViewNoWait).
func (p *Pipeline) netReader(readBatch func([]udpio.Message) (int, error), views bool) (
	read func(*Batch) (int, error), classify func(*Batch, int)) {
	read = func(b *Batch) (int, error) {
		// Views replace every message's buffer; only a copying read needs
		// the slots'. Not touching 64 slots and messages per read saves
		// a sparse lane (a ping) their cache misses: ~2 µs per read on an
		// idle host (perf).
		if !views {
			for i := range b.slots {
				b.msgs[i].Buf = b.slots[i].buf[netRoom:]
			}
		}
		b.views = views
		return readBatch(b.msgs)
	}
	classify = func(b *Batch, n int) {
		p.classifyIn(b, n, p.snap.Load())
		if b.views {
			// The datagrams are views into the socket's buffers, valid
			// until the next read: open them now, out of place into the
			// slots. The crypto stage then has nothing left to do.
			p.openBatch(b)
		}
	}
	return read, classify
}

// viewReader is a socket that can hand out received datagrams in place
// (udpio.Socket.ReadBatchView): with UDP GRO the datagrams then stay in the
// socket's receive buffers, and opening them out of place into the slots
// replaces the copy ReadBatch would make (perf, one TCP stream: that copy
// was ~8 % of the receiving node's CPU).
type viewReader interface {
	ReadBatchView(msgs []udpio.Message) (int, error)
	Offloads() udpio.Offloads
}

// routineOpen authenticates and decrypts the datagrams of inbound batches in
// place.
func (p *Pipeline) routineOpen() {
	defer p.wg.Done()
	p.cryptoLoop(&p.in, p.openBatch)
}

// routineCloseDevice waits for the inbound stages to stop, writes what is
// left to the device and closes the control channel.
func (p *Pipeline) routineCloseDevice() {
	defer p.wg.Done()
	p.closeLoop(&p.in)
	p.in.writeMu.Lock()
	p.flushCarry()
	p.in.writeMu.Unlock()
	if p.inDone != nil { // the small-packet lane: the bulk lane closes control
		close(p.inDone)
		return
	}
	if p.small != nil {
		<-p.small.inDone
	}
	close(p.control)
}

// deliverBatch writes the data packets of b to the device, hands the rest
// to the control plane and returns b to the free ring (the device writer's
// per-batch work; the caller holds in.writeMu).
//
// When another batch is already on its way behind b, a last run of
// packets that the device could still coalesce with that batch's (a TCP
// flow cut by the batch boundary) is held back and written at the
// front of the next batch's write, so it becomes one superpacket instead
// of two (tunio.RunWriter); b then stays out of the free ring until then.
func (p *Pipeline) deliverBatch(b *Batch) {
	d := &p.in
	learning, now, ttl := b.snap.Learning, int64(0), int64(p.cfg.SwitchTimeout/time.Second)
	if learning {
		now = p.cfg.Now()
	}
	k, bytes := 0, 0
	fwd := b.fwd[:0]
	for i := 0; i < b.n; i++ {
		s := &b.slots[i]
		switch s.verdict {
		case vDeliver:
			if learning {
				if src, err := b.snap.srcKey(s.out[1:]); err == nil {
					p.learned.learn(src, s.peer, now, ttl)
				}
			}
			// Hand the device the packet with devRoom bytes in front
			// (a vnet header goes there), whatever the framing was.
			start := cap(s.buf) - cap(s.out) + 1
			b.bufs[k] = s.buf[start-devRoom : start+len(s.out)-1]
			bytes += len(s.out) - 1
			k++
		case vControl:
			p.toControl(s)
		case vForward:
			fwd = append(fwd, udpio.Message{Buf: s.out, N: len(s.out), Addr: s.addr})
			s.peer.Stats.OutPackets.Add(1)
			s.peer.Stats.OutBytes.Add(uint64(len(s.out)))
		}
	}
	if len(fwd) > 0 {
		p.forward(fwd)
		clear(fwd)
	}
	p.ctr.DeviceOutBytes.Add(uint64(bytes))
	// More is coming when a batch behind b is in flight (inflight counts
	// b too); only then may a run wait for it.
	hold := p.runs != nil && d.inflight.Load() > 1
	held := p.writeDevice(b, k, hold)
	if k >= p.cfg.YieldPackets && bytes <= p.cfg.YieldBytes*k {
		p.in.yieldDue.Store(true) // let the readers this write woke run (Config.YieldBytes)
	}
	if held > 0 {
		p.carry, p.carryK, p.carryN = b, k, held
		return
	}
	p.releaseDelivered(b, k)
}

// writeDevice writes the packets b.bufs[:k] of b, behind the packets
// still held from the previous batch (p.carry), which it releases. With
// hold it may hold back b's last run and returns how many packets that
// is (0: everything written). Called under in.writeMu.
func (p *Pipeline) writeDevice(b *Batch, k int, hold bool) int {
	c, cn, ck := p.carry, p.carryN, p.carryK
	list := b.bufs[:k]
	if c != nil {
		list = append(append(p.devBufs[:0], c.bufs[ck-cn:ck]...), list...)
	}
	written, held, failed := 0, 0, 0
	if len(list) > 0 {
		var n, ver int
		var err error
		if p.runs != nil {
			verified := 0 // the held packets' count only when they lead the list
			if c != nil {
				verified = p.carryVer
			}
			n, ver, err = p.runs.WriteRuns(list, devRoom, verified, hold)
		} else {
			n, err = p.dev.Write(list, devRoom)
		}
		written = n
		switch {
		case err != nil:
			failed = len(list) - n
			if !p.isClosed(err) && p.debugOK() {
				p.log.Debug("writing to device failed", zap.Error(err))
			}
		case n < len(list) && n < cn:
			// The open run reaches back into the held packets: two
			// batches would wait for a third. Write it now.
			m, err := p.dev.Write(list[n:], devRoom)
			written += m
			if err != nil {
				failed = len(list) - n - m
			}
		case n < len(list):
			held, p.carryVer = len(list)-n, ver
		}
	}
	p.ctr.DeviceOut.Add(uint64(written))
	p.ctr.DropWriteFailed.Add(uint64(failed))
	if c != nil {
		clear(p.devBufs[:len(list)])
		p.carry = nil
		p.releaseDelivered(c, ck)
	}
	return held
}

// releaseDelivered returns batch b, whose first k bufs went to the device,
// to the free ring.
func (p *Pipeline) releaseDelivered(b *Batch, k int) {
	for i := 0; i < k; i++ {
		b.bufs[i] = nil
	}
	b.reset()
	_ = p.in.free.Push(b) // fails only at shutdown: the batch is dropped
}

// flushCarry writes the packets still held from the last batch (shutdown).
// Called under in.writeMu.
func (p *Pipeline) flushCarry() {
	if p.carry != nil {
		p.writeDevice(p.carry, 0, false)
	}
}

// classifyIn finds the sending peer of each of the n datagrams just read
// into b (the net reader's per-batch work).
func (p *Pipeline) classifyIn(b *Batch, n int, snap *Snapshot) {
	b.snap, b.n = snap, n
	bytes := 0
	for i := 0; i < n; i++ {
		bytes += b.msgs[i].N
	}
	b.bytes = bytes
	// Counters are shared by every stage: one atomic add per batch, not
	// per packet.
	p.ctr.NetIn.Add(uint64(n))
	p.ctr.NetInBytes.Add(uint64(bytes))
	// The datagrams of a batch mostly come from one peer: look the
	// address up once per run.
	var lastAddr netip.AddrPort
	var lastPeer *Peer
	for i := 0; i < n; i++ {
		s := &b.slots[i]
		s.n, s.addr = b.msgs[i].N, b.msgs[i].Addr
		if s.n == 0 {
			p.ctr.DropAuth.Add(1)
			continue
		}
		peer := lastPeer
		if lastPeer == nil || s.addr != lastAddr {
			peer = snap.ByAddr[s.addr]
			lastAddr, lastPeer = s.addr, peer
		}
		var dgram []byte
		if b.views {
			dgram = b.msgs[i].Buf[:s.n]
		} else {
			dgram = s.buf[netRoom : netRoom+s.n]
		}
		if dgram[0] == wire.InitByte {
			// Handshake (or, from a plain peer, a close message):
			// the control plane decides. A view is copied: the
			// control plane gets the packet after the next read.
			if b.views {
				dgram = s.buf[netRoom : netRoom+copy(s.buf[netRoom:], dgram)]
			}
			s.peer, s.out, s.verdict, s.init = peer, dgram, vControl, true
			continue
		}
		if peer == nil || peer.Via != nil { // (a relayed peer's address is a placeholder)
			p.ctr.DropUnknownPeer.Add(1)
			if p.debugOK() {
				p.log.Debug("dropping datagram from unknown peer", zap.Stringer("from", s.addr))
			}
			if s.n >= aead.Overhead+1 {
				p.notifyUnknown(s.addr)
			}
			continue
		}
		s.peer, s.verdict = peer, vDeliver
	}
}

// openBatch authenticates and decrypts the datagrams of b: a crypto
// worker's work, or with views the net reader's (then the workers find the
// batch opened and only write it).
func (p *Pipeline) openBatch(b *Batch) {
	if b.opened {
		return
	}
	b.opened = true
	// Authenticate every datagram, then check the batch against the
	// replay windows under one lock per key (aead.AcceptTickets), then
	// act on what passed.
	for i := 0; i < b.n; i++ {
		s := &b.slots[i]
		b.tickets[i] = aead.Ticket{}
		if s.verdict != vDeliver {
			continue
		}
		var pt []byte
		var t aead.Ticket
		var err error
		if b.views {
			// Out of place, to where opening in place would have put
			// the plaintext.
			pt, t, err = s.peer.Session.AuthenticateTo(s.buf[netRoom+aead.HeaderLen:netRoom+aead.HeaderLen], b.msgs[i].Buf[:s.n])
		} else {
			pt, t, err = s.peer.Session.Authenticate(s.buf[netRoom : netRoom+s.n])
		}
		if err != nil || len(pt) == 0 {
			s.verdict = vDrop
			p.countOpenFailure(err)
			continue
		}
		s.out, b.tickets[i] = pt, t
	}
	aead.AcceptTickets(b.tickets[:b.n], b.accepted[:b.n])
	clear(b.tickets[:b.n]) // don't keep old keys alive
	var run peerRun        // per-peer counts, added once per run of one peer
	for i := 0; i < b.n; i++ {
		s := &b.slots[i]
		if s.verdict != vDeliver {
			continue
		}
		if !b.accepted[i] {
			s.verdict = vDrop
			p.ctr.DropReplay.Add(1)
			continue
		}
		run.count(s.peer, s.n)
		switch s.out[0] {
		case wire.TypeData:
		case wire.TypeRelay, wire.TypeRelayed:
			p.openRelay(b.snap, s, s.out)
		default:
			s.verdict = vControl
		}
	}
	run.flush()
}

// notifyUnknown tells the control plane that a session-sized datagram came
// from an address that is no peer: a peer that still has a session with a
// previous run of this node. The control plane may answer with a handshake.
func (p *Pipeline) notifyUnknown(from netip.AddrPort) {
	select {
	case p.control <- ControlPacket{From: from, Unknown: true}:
	default:
		p.ctr.DropControlFull.Add(1)
	}
}

func (p *Pipeline) toControl(s *slot) {
	cp := ControlPacket{From: s.addr, Peer: s.peer, Init: s.init, Relayed: s.relayed, RelayNode: s.node,
		Data: append([]byte(nil), s.out...)}
	select {
	case p.control <- cp:
		p.ctr.ToControl.Add(1)
	default:
		p.ctr.DropControlFull.Add(1)
		if p.debugOK() {
			p.log.Debug("control plane busy, dropping control packet", zap.Stringer("from", s.addr))
		}
	}
}

// countOpenFailure counts a datagram that did not open (err nil: an empty
// plaintext) under its drop reason.
func (p *Pipeline) countOpenFailure(err error) {
	if errors.Is(err, aead.ErrReplay) {
		p.ctr.DropReplay.Add(1)
	} else {
		p.ctr.DropAuth.Add(1)
	}
}
