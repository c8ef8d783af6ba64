package pipeline

import (
	"go.uber.org/zap"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/udpio"
	"github.com/peercloud/peercloud/wire"
)

// routineReadFromDevice reads batches of packets from one device queue,
// finds the peer for each and passes the batch on to the sealers and the
// net writer.
func (p *Pipeline) routineReadFromDevice(dev tunio.Device) {
	defer p.wg.Done()
	read, classify := p.deviceReader(dev.Read)
	p.readLoop(&p.out, "device", read, classify, p.sealBatch, p.sendBatch)
}

// deviceReader returns the device reader's read and classify steps over
// readPackets, a device queue's Read (or ReadNoWait).
func (p *Pipeline) deviceReader(readPackets func(bufs [][]byte, sizes []int, offset int) (int, error)) (
	read func(*Batch) (int, error), classify func(*Batch, int)) {
	read = func(b *Batch) (int, error) {
		// The read buffers are the slots' and never change (device reads
		// only write into them): set once per batch, so that a read
		// touches only the slots it fills (see netReader).
		if !b.devBufs {
			for i := range b.slots {
				b.bufs[i] = b.slots[i].buf[:len(b.slots[i].buf)-2*aead.TagLen]
			}
			b.devBufs = true
		}
		return readPackets(b.bufs, b.sizes, headroom)
	}
	classify = func(b *Batch, n int) { p.classifyOut(b, n, p.snap.Load()) }
	return read, classify
}

// routineSeal seals the packets of outbound batches in place.
func (p *Pipeline) routineSeal() {
	defer p.wg.Done()
	p.cryptoLoop(&p.out, p.sealBatch)
}

// routineCloseNet waits for the outbound stages to stop and sends what is
// left.
func (p *Pipeline) routineCloseNet() {
	defer p.wg.Done()
	p.closeLoop(&p.out)
}

// sendBatch sends the sealed packets of b and returns b to the free ring
// (the net writer's per-batch work; the caller holds out.writeMu).
func (p *Pipeline) sendBatch(b *Batch) {
	d := &p.out
	k, bytes := 0, 0
	run := peerRun{out: true} // per-peer counts, added once per run of one peer
	for i := 0; i < b.n; i++ {
		s := &b.slots[i]
		if s.verdict != vSend {
			continue
		}
		b.msgs[k].Buf, b.msgs[k].N, b.msgs[k].Addr = s.out, len(s.out), s.addr
		run.count(s.peer, len(s.out))
		bytes += len(s.out)
		k++
	}
	run.flush()
	p.ctr.NetOutBytes.Add(uint64(bytes))
	for sent := 0; sent < k; {
		n, err := p.conn.WriteBatch(b.msgs[sent:k])
		if err != nil {
			if !p.isClosed(err) {
				if p.debugOK() {
					p.log.Debug("sending to network failed", zap.Error(err))
				}
			}
			p.ctr.DropWriteFailed.Add(uint64(k - sent))
			break
		}
		sent += n
		p.ctr.NetOut.Add(uint64(n))
	}
	for i := 0; i < k; i++ {
		b.msgs[i].Buf = nil
	}
	b.reset()
	_ = d.free.Push(b) // fails only at shutdown: the batch is dropped
}

// classifyOut finds the peer of each of the n packets just read into b
// (the device reader's per-batch work).
func (p *Pipeline) classifyOut(b *Batch, n int, snap *Snapshot) {
	var now int64 // learned addresses expire (switch mode only)
	if snap.Learning {
		now = p.cfg.Now()
	}
	b.snap, b.n = snap, n
	bytes := 0
	for i := 0; i < n; i++ {
		bytes += b.sizes[i]
	}
	b.bytes = bytes
	// Counters are shared by every stage: one atomic add per batch, not
	// per packet.
	p.ctr.DeviceIn.Add(uint64(n))
	p.ctr.DeviceInBytes.Add(uint64(bytes))
	var cache dstCache
	for i := 0; i < n; i++ {
		s := &b.slots[i]
		s.n = b.sizes[i]
		peer, flood, err := p.lookupDst(snap, s.buf[headroom:headroom+s.n], now, &cache)
		switch {
		case err != nil:
			p.ctr.DropMalformed.Add(1)
			if p.debugOK() {
				p.log.Debug("dropping malformed packet from device", zap.Error(err))
			}
		case flood:
			p.flood(snap, s.buf[headroom:headroom+s.n])
		case peer == nil:
			p.ctr.DropNoRoute.Add(1)
			if p.debugOK() {
				p.log.Debug("dropping packet for unclaimed destination")
			}
		case peer.Via != nil && p.cfg.RelayMTU > 0 && s.n > p.cfg.RelayMTU && !snap.TAP &&
			p.tooBig(s.buf[headroom:headroom+s.n]):
			// Dropped, and the sender told (toobig.go).
		default:
			s.peer, s.addr, s.verdict = peer, peer.Addr, vSend
		}
	}
}

// sealBatch seals the packets of b that go out (a crypto worker's work).
func (p *Pipeline) sealBatch(b *Batch) {
	for i := 0; i < b.n; i++ {
		s := &b.slots[i]
		if s.verdict != vSend {
			continue
		}
		s.buf[relayRoom+aead.HeaderLen] = wire.TypeData
		out, addr, err := sealFor(s.peer, s.buf, s.n+1)
		if err != nil {
			s.verdict = vDrop
			p.ctr.DropSealFailed.Add(1)
			continue
		}
		s.out, s.addr = out, addr
	}
}

// flood sends pkt to every peer of snap (switch and hub modes: broadcast
// and unknown destinations). Flooded packets are rare (ARP, DHCP, unknown
// unicast) and sealed and sent right here, once per peer, from the reader's
// scratch buffer; they may overtake packets of earlier batches.
func (p *Pipeline) flood(snap *Snapshot, pkt []byte) {
	p.ctr.Flooded.Add(1)
	p.floodMu.Lock()
	defer p.floodMu.Unlock()
	buf := p.floodBuf
	for _, peer := range snap.Peers {
		buf[relayRoom+aead.HeaderLen] = wire.TypeData
		copy(buf[headroom:], pkt)
		out, addr, err := sealFor(peer, buf, len(pkt)+1)
		if err != nil {
			p.ctr.DropSealFailed.Add(1)
			continue
		}
		p.floodMsg[0] = udpio.Message{Buf: out, N: len(out), Addr: addr}
		if _, err := p.conn.WriteBatch(p.floodMsg); err != nil {
			p.ctr.DropWriteFailed.Add(1)
			continue
		}
		peer.Stats.OutPackets.Add(1)
		peer.Stats.OutBytes.Add(uint64(len(out)))
		p.ctr.NetOut.Add(1)
		p.ctr.NetOutBytes.Add(uint64(len(out)))
	}
	p.floodMsg[0].Buf = nil
}
