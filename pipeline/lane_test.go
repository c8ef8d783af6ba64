package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/route"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
	"github.com/peercloud/peercloud/udpio"
	"github.com/peercloud/peercloud/udpio/udptest"
)

// TestSmallLane runs two nodes with a small-packet lane each, the network
// steering small datagrams to the first shard as the kernel's reuseport
// program does: small packets cross through the small lanes and large
// ones through the bulk lanes, each flow in order, counted once. Then
// B's bulk lane stalls on a device that takes nothing more, and small
// packets still get through.
func TestSmallLane(t *testing.T) {
	network := udptest.NewNetwork()
	const smallMax = 200 // datagram bytes
	pick := func(data []byte) int {
		if len(data) <= smallMax {
			return 0
		}
		return 1
	}
	conns := func(ap netip.AddrPort) []udpio.Conn {
		s, err := network.ListenShards(ap, 2, pick)
		if err != nil {
			t.Fatal(err)
		}
		return []udpio.Conn{s[0], s[1]}
	}
	devA0, devA1 := tuntest.NewChannelTUN("a0", tunio.TUN, 1400), tuntest.NewChannelTUN("a1", tunio.TUN, 1400)
	devB0, devB1 := tuntest.NewChannelTUN("b0", tunio.TUN, 1400), tuntest.NewChannelTUN("b1", tunio.TUN, 1400)
	cfg := Config{Workers: 2, Batches: 4, BatchSize: 8, SmallLane: true}
	a := NewMulti(cfg, []tunio.Device{devA0, devA1}, conns(addrA), nil)
	b := NewMulti(cfg, []tunio.Device{devB0, devB1}, conns(addrB), nil)
	if a.small == nil || b.small == nil {
		t.Fatal("no small-packet lane")
	}
	tx, rx := sessionPair(t, aead.AES128, 3)
	peerB, peerA := &Peer{Addr: addrB, Session: tx}, &Peer{Addr: addrA, Session: rx}
	a.Publish(&Snapshot{
		Routes: route.NewTable([]route.Entry[*Peer]{{Prefix: ipKey(tunB), Bits: 32, Value: peerB}}),
		ByAddr: map[netip.AddrPort]*Peer{addrB: peerB},
		Peers:  []*Peer{peerB},
	})
	b.Publish(&Snapshot{ByAddr: map[netip.AddrPort]*Peer{addrA: peerA}, Peers: []*Peer{peerA}})
	a.Start()
	b.Start()
	closed := false
	stop := func() {
		if closed {
			return
		}
		closed = true
		for _, p := range []*Pipeline{a, b} {
			if err := p.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			p.Wait()
			for range p.Control() { // closed once both lanes stopped
			}
		}
	}
	defer stop()

	// Flow 0: small packets into A's first queue; flow 1: large ones into
	// the second (the kernel's steering program picks the queue so).
	const perFlow = 100
	next := make([]int, 2)
	small, large := 0, 0
	deadline := time.After(10 * time.Second)
	for seq := 0; seq < perFlow; seq++ {
		devA0.Inbound <- sizedPacket(0, seq, 64)
		devA1.Inbound <- sizedPacket(1, seq, 1000)
	}
	for small+large < 2*perFlow {
		select {
		case pkt := <-devB0.Outbound:
			small++
			if len(pkt) > 100 {
				t.Fatalf("a %d-byte packet left B's small lane", len(pkt))
			}
			checkFlowOrder(t, pkt, next)
		case pkt := <-devB1.Outbound:
			large++
			if len(pkt) < 1000 {
				t.Fatalf("a %d-byte packet left B's bulk lane", len(pkt))
			}
			checkFlowOrder(t, pkt, next)
		case <-deadline:
			t.Fatalf("got %d small and %d large of %d each; A %+v; B %+v", small, large, perFlow, a.Counters.Values(), b.Counters.Values())
		}
	}
	if in, out := b.Counters.NetIn.Load(), a.Counters.NetOut.Load(); in != 2*perFlow || out != 2*perFlow {
		t.Errorf("A sent %d, B read %d datagrams; want %d each (both lanes counted)", out, in, 2*perFlow)
	}
	if in := peerA.Stats.InPackets.Load(); in != 2*perFlow {
		t.Errorf("peer stats: %d packets in, want %d", in, 2*perFlow)
	}
	if r := b.Rings(); r[0].Cap != 2*cfg.Batches {
		t.Errorf("free ring capacity over both lanes %d, want %d", r[0].Cap, 2*cfg.Batches)
	}

	// Nobody reads B's bulk device any more: once its queue is full, the
	// bulk lane's writer blocks, and its readers and rings fill behind it.
	for seq := perFlow; len(devB1.Outbound) < cap(devB1.Outbound); seq++ {
		select {
		case devA1.Inbound <- sizedPacket(1, seq, 1000):
		case <-deadline:
			t.Fatalf("B's bulk device holds %d of %d", len(devB1.Outbound), cap(devB1.Outbound))
		}
	}
	for seq := perFlow; seq < perFlow+20; seq++ {
		devA0.Inbound <- sizedPacket(0, seq, 64)
		select {
		case pkt := <-devB0.Outbound:
			checkFlowOrder(t, pkt, next)
		case <-deadline:
			t.Fatalf("small packet %d stuck behind the stalled bulk lane", seq)
		}
	}
	stop()
}
