package pipeline

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/internal/testenv"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
)

// runDev is a device that holds back runs as a tunio.RunWriter may: with
// hold, the last holdN packets of a write (when there are more than that)
// stay unwritten, reported with verified = holdN. It records the verified
// count each call was given.
type runDev struct {
	*tuntest.ChannelTUN
	holdN    int
	verified []int
	lens     []int
}

func (d *runDev) WriteRuns(bufs [][]byte, offset, verified int, hold bool) (int, int, error) {
	d.verified, d.lens = append(d.verified, verified), append(d.lens, len(bufs))
	n := len(bufs)
	if hold && n > d.holdN {
		n -= d.holdN
	}
	m, err := d.Write(bufs[:n], offset)
	if err != nil || n == len(bufs) {
		return m, 0, err
	}
	return m, d.holdN, nil
}

// carryRig is a receiving pipeline on a runDev and the sending half that
// makes its inbound batches.
type carryRig struct {
	h   *halves
	rx  *Pipeline
	dev *runDev
	seq int
	// payload is the UDP payload size of the packets batch makes; 0: 100
	// bytes and one more per packet.
	payload int
}

func newCarryRig(t *testing.T, holdN int) *carryRig {
	r := newRxRig(t, Config{Batches: 4, BatchSize: 8}, holdN)
	if r.rx.runs == nil {
		t.Fatal("a RunWriter device is not used as one")
	}
	return r
}

// newRxRig is a receiving pipeline with configuration cfg on a runDev.
func newRxRig(t *testing.T, cfg Config, holdN int) *carryRig {
	h := newHalves(t, aead.AES128)
	dev := &runDev{ChannelTUN: tuntest.NewChannelTUN("c", tunio.TUN, 1400), holdN: holdN}
	return &carryRig{h: h, rx: New(cfg, dev, h.rx.conn, nil), dev: dev}
}

// batch makes an inbound batch of n opened packets, numbered on from the
// rig's last, taken from rx's free ring as the reader would.
func (r *carryRig) batch(t *testing.T, n int) (*Batch, [][]byte) {
	t.Helper()
	out := newBatch(n, 2048)
	in, ok := r.rx.in.free.TryPop()
	if !ok {
		t.Fatal("no free batch")
	}
	var pkts [][]byte
	for i := 0; i < n; i++ {
		size := r.payload
		if size == 0 {
			size = 100 + r.seq
		}
		pkts = append(pkts, ipPacket(tunA, tunB, size))
		r.seq++
	}
	r.h.tx.classifyOut(out, fillDevice(out, pkts), r.h.snapTx)
	r.h.tx.sealBatch(out)
	r.rx.classifyIn(in, carry(out, in, addrA), r.h.snapRx)
	r.rx.openBatch(in)
	return in, pkts
}

// deliver writes b as the drain does, with inflight batches in flight
// (b among them).
func (r *carryRig) deliver(b *Batch, inflight int64) {
	r.rx.in.inflight.Store(inflight)
	r.rx.in.writeMu.Lock()
	r.rx.deliverBatch(b)
	r.rx.in.writeMu.Unlock()
}

// written takes every packet the device got so far.
func (r *carryRig) written() [][]byte {
	var got [][]byte
	for {
		select {
		case p := <-r.dev.Outbound:
			got = append(got, p)
		default:
			return got
		}
	}
}

func samePackets(got, want [][]byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d packets written, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			return fmt.Errorf("packet %d differs (%d bytes, want %d)", i, len(got[i]), len(want[i]))
		}
	}
	return nil
}

// TestDeliverCarriesOpenRun checks the device writer's carry: with a batch
// behind, the open run the device holds back stays with its batch and
// goes out, in order and with its verified count, at the front of the next
// batch's write; that batch returns to the free ring only then; with
// nothing behind, nothing is held.
func TestDeliverCarriesOpenRun(t *testing.T) {
	r := newCarryRig(t, 3)
	b1, p1 := r.batch(t, 8)
	freeBefore := r.rx.in.free.Len()
	r.deliver(b1, 2)
	if err := samePackets(r.written(), p1[:5]); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	if r.rx.carry != b1 || r.rx.carryN != 3 || r.rx.in.free.Len() != freeBefore {
		t.Fatalf("carry %p (batch %p), %d held, %d free (want %d): the batch must wait for its run",
			r.rx.carry, b1, r.rx.carryN, r.rx.in.free.Len(), freeBefore)
	}
	b2, p2 := r.batch(t, 8)
	r.deliver(b2, 1) // nothing behind: write everything
	if err := samePackets(r.written(), append(append([][]byte{}, p1[5:]...), p2...)); err != nil {
		t.Fatalf("second batch: %v", err)
	}
	if r.rx.carry != nil || r.rx.in.free.Len() != freeBefore+1 {
		t.Fatalf("carry %p, %d free, want none and %d", r.rx.carry, r.rx.in.free.Len(), freeBefore+1)
	}
	// A batch with no carry in front claims no verified packets, however
	// many the last carry had.
	b3, p3 := r.batch(t, 8)
	r.deliver(b3, 1)
	if err := samePackets(r.written(), p3); err != nil {
		t.Fatalf("third batch: %v", err)
	}
	if got := r.dev.verified; len(got) != 3 || got[0] != 0 || got[1] != 3 || got[2] != 0 {
		t.Fatalf("verified counts passed %v, want [0 3 0]", got)
	}
	if c := r.rx.Counters.Values(); c.DeviceOut != 24 || c.DropWriteFailed != 0 {
		t.Fatalf("device out %d, failed %d; want 24, 0", c.DeviceOut, c.DropWriteFailed)
	}
}

// TestDeliverCarryNeverSpansTwoBatches: a run held back that would reach
// back into the carried packets (the next batch is shorter than the run)
// is written at once, so at most one batch waits.
func TestDeliverCarryNeverSpansTwoBatches(t *testing.T) {
	r := newCarryRig(t, 3)
	b1, p1 := r.batch(t, 8)
	r.deliver(b1, 3)
	b2, p2 := r.batch(t, 2) // the device would hold 3 of carry+2
	r.deliver(b2, 2)
	want := append(append([][]byte{}, p1...), p2...)
	if err := samePackets(r.written(), want); err != nil {
		t.Fatal(err)
	}
	if r.rx.carry != nil {
		t.Fatal("a run spanning two batches was held")
	}
	if c := r.rx.Counters.Values(); c.DeviceOut != 10 {
		t.Fatalf("device out %d, want 10", c.DeviceOut)
	}
}

// TestDeliverCarryFlushedAtShutdown: the packets held when the pipeline
// stops go to the closing writer, which tries them like every batch left
// at shutdown (the device is closed by then, so they count as failed
// writes) and frees their batch: none vanishes uncounted.
func TestDeliverCarryFlushedAtShutdown(t *testing.T) {
	r := newCarryRig(t, 3)
	b1, p1 := r.batch(t, 8)
	r.deliver(b1, 2)
	r.rx.in.inflight.Store(0)
	r.rx.Start()
	r.rx.Close()
	r.rx.Wait()
	if err := samePackets(r.written(), p1[:5]); err != nil {
		t.Fatal(err)
	}
	if r.rx.carry != nil {
		t.Fatal("carry left after shutdown")
	}
	if c := r.rx.Counters.Values(); c.DeviceOut != 5 || c.DropWriteFailed != 3 || len(r.dev.lens) != 2 || r.dev.lens[1] != 3 {
		t.Fatalf("device out %d, failed %d, writes %v; want 5, 3 and a last write of the 3 held",
			c.DeviceOut, c.DropWriteFailed, r.dev.lens)
	}
}

// TestDeliverPlainDeviceHoldsNothing: a device that is no RunWriter gets
// every packet of every batch at once, whatever is in flight.
func TestDeliverPlainDeviceHoldsNothing(t *testing.T) {
	h := newHalves(t, aead.AES128)
	if h.rx.runs != nil {
		t.Fatal("a plain device taken for a RunWriter")
	}
	out := newBatch(8, 2048)
	in, ok := h.rx.in.free.TryPop() // deliverBatch returns it there
	if !ok {
		t.Fatal("no free batch")
	}
	var pkts [][]byte
	for i := 0; i < 8; i++ {
		pkts = append(pkts, ipPacket(tunA, tunB, 50+i))
	}
	h.tx.classifyOut(out, fillDevice(out, pkts), h.snapTx)
	h.tx.sealBatch(out)
	h.rx.classifyIn(in, carry(out, in, addrA), h.snapRx)
	h.rx.openBatch(in)
	h.rx.in.inflight.Store(5)
	h.rx.in.writeMu.Lock()
	h.rx.deliverBatch(in)
	h.rx.in.writeMu.Unlock()
	dev := h.rx.dev.(*tuntest.ChannelTUN)
	var got [][]byte
	for len(dev.Outbound) > 0 {
		got = append(got, <-dev.Outbound)
	}
	if err := samePackets(got, pkts); err != nil {
		t.Fatal(err)
	}
}

// countDev is a RunWriter device that only counts what it is given (no
// copy, no allocation), holding back the last holdN packets with hold.
type countDev struct {
	*tuntest.ChannelTUN
	holdN, written int
}

func (d *countDev) Write(bufs [][]byte, offset int) (int, error) {
	d.written += len(bufs)
	return len(bufs), nil
}

func (d *countDev) WriteRuns(bufs [][]byte, offset, verified int, hold bool) (int, int, error) {
	if hold && len(bufs) > d.holdN {
		d.written += len(bufs) - d.holdN
		return len(bufs) - d.holdN, d.holdN, nil
	}
	d.written += len(bufs)
	return len(bufs), 0, nil
}

// TestDeliverCarryDoesNotAllocate: a batch held back and written behind
// the next one costs no allocation.
func TestDeliverCarryDoesNotAllocate(t *testing.T) {
	h := newHalves(t, aead.AES128)
	dev := &countDev{ChannelTUN: tuntest.NewChannelTUN("c", tunio.TUN, 1400), holdN: 5}
	rx := New(Config{Batches: 4, BatchSize: 64}, dev, h.rx.conn, nil)
	out := newBatch(64, 2048)
	var pkts [][]byte
	for i := 0; i < 64; i++ {
		pkts = append(pkts, ipPacket(tunA, tunB, 1300))
	}
	allocs := testing.AllocsPerRun(50, func() {
		for _, inflight := range []int64{2, 1} {
			h.tx.classifyOut(out, fillDevice(out, pkts), h.snapTx)
			h.tx.sealBatch(out)
			in, _ := rx.in.free.TryPop()
			rx.classifyIn(in, carry(out, in, addrA), h.snapRx)
			rx.openBatch(in)
			out.reset()
			rx.in.inflight.Store(inflight)
			rx.in.writeMu.Lock()
			rx.deliverBatch(in)
			rx.in.writeMu.Unlock()
		}
	})
	if dev.written != 51*128 || rx.carry != nil {
		t.Fatalf("%d packets written, carry %p; want %d and none", dev.written, rx.carry, 51*128)
	}
	switch {
	case testenv.RaceEnabled:
		t.Logf("%v allocations per two batches under -race (not asserted)", allocs)
	case allocs != 0:
		t.Errorf("%v allocations per two batches", allocs)
	}
}
