package pipeline

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/route"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
	"github.com/peercloud/peercloud/udpio"
	"github.com/peercloud/peercloud/udpio/udptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sessionPair returns the two ends of one session.
func sessionPair(t *testing.T, alg aead.Algorithm, seed byte) (tx, rx *aead.Session) {
	t.Helper()
	key := bytes.Repeat([]byte{seed}, alg.KeyLen())
	tx, err := aead.NewSession(alg, true, key, key)
	if err != nil {
		t.Fatal(err)
	}
	rx, err = aead.NewSession(alg, false, key, key)
	if err != nil {
		t.Fatal(err)
	}
	return tx, rx
}

// flowPacket is an IP/UDP packet of flow f (source port 1000+f) carrying
// sequence number seq.
func flowPacket(f, seq int) []byte { return sizedPacket(f, seq, 64) }

// sizedPacket is flowPacket with a payload of n bytes.
func sizedPacket(f, seq, n int) []byte {
	payload := make([]byte, n)
	binary.BigEndian.PutUint32(payload, uint32(seq))
	return tuntest.UDPPacket(netip.AddrPortFrom(tunA, uint16(1000+f)), netip.AddrPortFrom(tunB, 2000), payload)
}

// TestSeveralQueuesAndShards runs started pipelines: A reads from two
// device queues and sends to B's first shard, C sends to B's second shard;
// B reads both shards. Every packet arrives once, each flow in order, with
// small batches processed inline by the readers always, never, or mixed
// with handed-on ones.
func TestSeveralQueuesAndShards(t *testing.T) {
	for _, tc := range []struct {
		name      string
		inlineMax int
	}{{"never inline", -1}, {"mixed", 2}, {"inline when idle", 8}} {
		t.Run(tc.name, func(t *testing.T) { testQueuesAndShards(t, tc.inlineMax) })
	}
}

func testQueuesAndShards(t *testing.T, inlineMax int) {
	network := udptest.NewNetwork()
	addrB1 := netip.MustParseAddrPort("192.0.2.2:3211")
	addrC := netip.MustParseAddrPort("192.0.2.3:3210")
	listen := func(ap netip.AddrPort) udpio.Conn {
		c, err := network.Listen(ap)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	connA, connB0, connB1, connC := listen(addrA), listen(addrB), listen(addrB1), listen(addrC)
	devA0, devA1 := tuntest.NewChannelTUN("a0", tunio.TUN, 1400), tuntest.NewChannelTUN("a1", tunio.TUN, 1400)
	devB, devC := tuntest.NewChannelTUN("b", tunio.TUN, 1400), tuntest.NewChannelTUN("c", tunio.TUN, 1400)
	cfg := Config{Workers: 3, Batches: 4, BatchSize: 8, InlineMax: inlineMax}
	a := NewMulti(cfg, []tunio.Device{devA0, devA1}, []udpio.Conn{connA}, nil)
	b := NewMulti(cfg, []tunio.Device{devB}, []udpio.Conn{connB0, connB1}, nil)
	c := New(cfg, devC, connC, nil)

	abTx, abRx := sessionPair(t, aead.AES128, 1)
	cbTx, cbRx := sessionPair(t, aead.ChaCha20, 2)
	toB := func(addr netip.AddrPort, s *aead.Session) *Snapshot {
		peer := &Peer{Addr: addr, Session: s}
		return &Snapshot{
			Routes: route.NewTable([]route.Entry[*Peer]{{Prefix: ipKey(tunB), Bits: 32, Value: peer}}),
			ByAddr: map[netip.AddrPort]*Peer{addr: peer},
			Peers:  []*Peer{peer},
		}
	}
	a.Publish(toB(addrB, abTx))
	c.Publish(toB(addrB1, cbTx))
	peerA, peerC := &Peer{Addr: addrA, Session: abRx}, &Peer{Addr: addrC, Session: cbRx}
	b.Publish(&Snapshot{ByAddr: map[netip.AddrPort]*Peer{addrA: peerA, addrC: peerC}, Peers: []*Peer{peerA, peerC}})
	for _, p := range []*Pipeline{a, b, c} {
		p.Start()
	}
	defer func() {
		for _, p := range []*Pipeline{a, b, c} {
			if err := p.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			p.Wait()
		}
	}()

	// Flows 0 and 1 enter A's queue 0, flow 2 A's queue 1, flow 3 C's
	// device; sent interleaved, a few at a time so no queue overflows.
	const perFlow = 200
	devs := []*tuntest.ChannelTUN{devA0, devA0, devA1, devC}
	next := make([]int, len(devs))
	got := 0
	deadline := time.After(10 * time.Second)
	for seq := 0; seq < perFlow; seq++ {
		for f, d := range devs {
			d.Inbound <- flowPacket(f, seq)
		}
		// Drain what has arrived so far.
		for drained := false; !drained; {
			select {
			case pkt := <-devB.Outbound:
				got++
				checkFlowOrder(t, pkt, next)
			default:
				drained = true
			}
		}
	}
	for got < perFlow*len(devs) {
		select {
		case pkt := <-devB.Outbound:
			got++
			checkFlowOrder(t, pkt, next)
		case <-deadline:
			t.Fatalf("got %d of %d packets; per flow %v; A %+v; B %+v", got, perFlow*len(devs), next, a.Counters.Values(), b.Counters.Values())
		}
	}
	if in := b.Counters.NetIn.Load(); in != perFlow*uint64(len(devs)) {
		t.Errorf("B read %d datagrams, want %d", in, perFlow*len(devs))
	}
	inlined := a.out.inlined.Load() + b.in.inlined.Load() + c.out.inlined.Load()
	t.Logf("batches processed inline: %d", inlined)
	if inlineMax < 0 && inlined != 0 {
		t.Errorf("%d batches processed inline with InlineMax %d", inlined, inlineMax)
	}
	// With InlineMax >= BatchSize at least each pipeline's first batch
	// goes inline (nothing is pending yet).
	if inlineMax >= cfg.BatchSize && inlined == 0 {
		t.Errorf("no batch processed inline with InlineMax %d", inlineMax)
	}
	if peerC.Stats.InPackets.Load() != perFlow || peerA.Stats.InPackets.Load() != 3*perFlow {
		t.Errorf("B got %d from A (want %d), %d from C (want %d)", peerA.Stats.InPackets.Load(), 3*perFlow, peerC.Stats.InPackets.Load(), perFlow)
	}
}

// checkFlowOrder checks that pkt is the next packet of its flow.
func checkFlowOrder(t *testing.T, pkt []byte, next []int) {
	t.Helper()
	src, _, payload, ok := tuntest.ParseUDPPacket(pkt)
	if !ok || len(payload) < 4 {
		t.Fatalf("malformed packet at B: %x", pkt)
	}
	f := int(src.Port()) - 1000
	if f < 0 || f >= len(next) {
		t.Fatalf("unknown flow %d", f)
	}
	seq := int(binary.BigEndian.Uint32(payload))
	if seq != next[f] {
		t.Fatalf("flow %d: got packet %d, want %d", f, seq, next[f])
	}
	next[f]++
}

// TestCloseStopsEveryReader checks that Close stops a pipeline with several
// readers per direction, idle or not, and that Wait returns.
func TestCloseStopsEveryReader(t *testing.T) {
	network := udptest.NewNetwork()
	var conns []udpio.Conn
	for i := 0; i < 3; i++ {
		c, err := network.Listen(netip.AddrPortFrom(tunA, uint16(4000+i)))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	devs := []tunio.Device{tuntest.NewChannelTUN("x0", tunio.TUN, 1400), tuntest.NewChannelTUN("x1", tunio.TUN, 1400)}
	p := NewMulti(Config{Workers: 2, Batches: 2, BatchSize: 4}, devs, conns, nil)
	p.Start()
	time.Sleep(10 * time.Millisecond)
	_ = p.Close()
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
	if _, ok := <-p.Control(); ok {
		t.Fatal("control channel still open")
	}
}

// TestInlineOnlyWhenNothingPending checks the conditions of the readers'
// inline path: a small batch, no batch pending, the write lock free.
func TestInlineOnlyWhenNothingPending(t *testing.T) {
	d := newDirection(Config{Batches: 2, BatchSize: 8, InlineMax: 4}, 2048, 1)
	b := newBatch(8, 2048)
	b.n = 4
	if !d.inlineBegin(b) {
		t.Fatal("a small batch with nothing pending was not inlined")
	}
	// The lock is held until inlineEnd: nobody else inlines meanwhile.
	if d.inlineBegin(b) {
		t.Fatal("inlined while another inline batch held the write lock")
	}
	d.inlineEnd()
	if d.inlined.Load() != 1 {
		t.Fatalf("inlined = %d, want 1", d.inlined.Load())
	}
	b.n = 5
	if d.inlineBegin(b) {
		t.Fatal("a batch above InlineMax was inlined")
	}
	b.n = 1
	d.inflight.Add(1)
	if d.inlineBegin(b) {
		t.Fatal("inlined while an earlier batch was pending")
	}
	d.inflight.Add(-1)
	if !d.inlineBegin(b) {
		t.Fatal("not inlined once nothing was pending")
	}
	d.inlineEnd()
	never := newDirection((&Config{InlineMax: -1}).withDefaults(), 2048, 1)
	if never.inlineBegin(b) {
		t.Fatal("inlined with InlineMax < 0")
	}
}

// TestInlineSmallBytes checks that a batch of many small packets is
// finished by the reader (InlineBytes) while one of as many large packets
// is handed on, and that InlineMax < 0 still turns inlining off.
func TestInlineSmallBytes(t *testing.T) {
	d := newDirection((&Config{Batches: 2, BatchSize: 64, InlineMax: 4, InlineBytes: 4096}).withDefaults(), 2048, 1)
	b := newBatch(64, 2048)
	b.n, b.bytes = 64, 64*64
	if !d.inlineBegin(b) {
		t.Fatal("64 packets of 64 bytes were not inlined")
	}
	d.inlineEnd()
	b.bytes = 4097
	if d.inlineBegin(b) {
		t.Fatal("a batch above both InlineMax and InlineBytes was inlined")
	}
	if def := (&Config{}).withDefaults(); def.InlineBytes != 16<<10 {
		t.Errorf("default InlineBytes %d", def.InlineBytes)
	}
	never := newDirection((&Config{InlineMax: -1, InlineBytes: 1 << 20}).withDefaults(), 2048, 1)
	b.bytes = 1
	if never.inlineBegin(b) {
		t.Fatal("inlined with InlineMax < 0")
	}
}

// TestPeerRunCounts checks the per-batch accumulation of per-peer
// counters: runs of one peer are added once, a change of peer flushes,
// and the direction picks the In or Out counters.
func TestPeerRunCounts(t *testing.T) {
	p1, p2 := &Peer{}, &Peer{}
	in := peerRun{}
	for _, c := range []struct {
		p *Peer
		n int
	}{{p1, 10}, {p1, 20}, {p2, 5}, {p1, 1}} {
		in.count(c.p, c.n)
	}
	if p1.Stats.InPackets.Load() != 2 || p1.Stats.InBytes.Load() != 30 || p2.Stats.InPackets.Load() != 1 {
		t.Fatalf("before flush: p1 %d/%d p2 %d", p1.Stats.InPackets.Load(), p1.Stats.InBytes.Load(), p2.Stats.InPackets.Load())
	}
	in.flush()
	in.flush() // an empty run adds nothing
	if p1.Stats.InPackets.Load() != 3 || p1.Stats.InBytes.Load() != 31 || p2.Stats.InBytes.Load() != 5 {
		t.Fatalf("after flush: p1 %d/%d p2 %d", p1.Stats.InPackets.Load(), p1.Stats.InBytes.Load(), p2.Stats.InBytes.Load())
	}
	out := peerRun{out: true}
	out.count(p2, 7)
	out.count(p1, 8)
	out.flush()
	if p2.Stats.OutPackets.Load() != 1 || p2.Stats.OutBytes.Load() != 7 || p1.Stats.OutBytes.Load() != 8 || p2.Stats.InPackets.Load() != 1 {
		t.Fatalf("out: p1 %d p2 %d/%d", p1.Stats.OutBytes.Load(), p2.Stats.OutPackets.Load(), p2.Stats.OutBytes.Load())
	}
}
