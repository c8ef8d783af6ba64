package pipeline

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/internal/testenv"
	"github.com/peercloud/peercloud/route"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
	"github.com/peercloud/peercloud/udpio"
	"github.com/peercloud/peercloud/udpio/udptest"
	"github.com/peercloud/peercloud/wire"
)

var (
	addrR  = netip.MustParseAddrPort("192.0.2.3:3210")
	addrC  = netip.MustParseAddrPort("192.0.2.4:3210")
	virtCA = netip.MustParseAddrPort("[100::1]:0") // C's name for the path to A
	virtAC = netip.MustParseAddrPort("[100::2]:0") // A's name for the path to C
	tunC   = netip.MustParseAddr("10.9.0.3")
	idA    = wire.NodeID{0xA}
	idR    = wire.NodeID{0xB}
	idC    = wire.NodeID{0xC}
)

// keyedPair returns the two ends of a session with its own key.
func keyedPair(t testing.TB, alg aead.Algorithm, seed byte) (*aead.Session, *aead.Session) {
	t.Helper()
	key := bytes.Repeat([]byte{seed}, max(alg.KeyLen(), 1))
	x, err := aead.NewSession(alg, true, key, key)
	if err != nil {
		t.Fatal(err)
	}
	y, err := aead.NewSession(alg, false, key, key)
	if err != nil {
		t.Fatal(err)
	}
	return x, y
}

// relayTrio is A reaching C through the relay R, as the stage functions
// see it: A's and C's sessions with R, and the end-to-end session A-C that
// R does not have.
type relayTrio struct {
	a, r, c        *Pipeline
	snapA, snapR   *Snapshot
	snapC          *Snapshot
	rA, rC, cR, aR *Peer // X's view of Y: xY
	aC, cA         *Peer // the relayed peers
	sessAR, sessRA *aead.Session
	sessAC, sessCA *aead.Session
	sessRC, sessCR *aead.Session
}

func newRelayTrio(t testing.TB, alg aead.Algorithm) *relayTrio {
	t.Helper()
	x := &relayTrio{}
	x.sessAR, x.sessRA = keyedPair(t, alg, 1)
	x.sessRC, x.sessCR = keyedPair(t, alg, 2)
	x.sessAC, x.sessCA = keyedPair(t, alg, 3)
	network := udptest.NewNetwork()
	mk := func(name string, addr netip.AddrPort) *Pipeline {
		conn, err := network.Listen(addr)
		if err != nil {
			t.Fatal(err)
		}
		return New(Config{}, tuntest.NewChannelTUN(name, tunio.TUN, 1400), conn, nil)
	}
	x.a, x.r, x.c = mk("a", addrA), mk("r", addrR), mk("c", addrC)

	x.aR = &Peer{Addr: addrR, Session: x.sessAR, NodeID: idR}
	x.aC = &Peer{Addr: virtAC, Session: x.sessAC, NodeID: idC, Via: x.aR}
	x.snapA = &Snapshot{
		Routes: route.NewTable([]route.Entry[*Peer]{{Prefix: ipKey(tunC), Bits: 32, Value: x.aC}}),
		ByAddr: map[netip.AddrPort]*Peer{addrR: x.aR, virtAC: x.aC},
		Peers:  []*Peer{x.aR, x.aC},
		Relay:  true,
	}
	x.rA = &Peer{Addr: addrA, Session: x.sessRA, NodeID: idA}
	x.rC = &Peer{Addr: addrC, Session: x.sessRC, NodeID: idC}
	x.snapR = &Snapshot{
		Routes:   route.NewTable[*Peer](nil),
		ByAddr:   map[netip.AddrPort]*Peer{addrA: x.rA, addrC: x.rC},
		Peers:    []*Peer{x.rA, x.rC},
		Relay:    true,
		ByNodeID: map[wire.NodeID]*Peer{idA: x.rA, idC: x.rC},
	}
	x.cR = &Peer{Addr: addrR, Session: x.sessCR, NodeID: idR}
	x.cA = &Peer{Addr: virtCA, Session: x.sessCA, NodeID: idA, Via: x.cR}
	x.snapC = &Snapshot{
		Routes:  route.NewTable[*Peer](nil),
		ByAddr:  map[netip.AddrPort]*Peer{addrR: x.cR, virtCA: x.cA},
		Peers:   []*Peer{x.cR, x.cA},
		Relay:   true,
		Relayed: map[RelayKey]*Peer{{Via: addrR, Node: idA}: x.cA},
	}
	return x
}

// carryVerdict moves the packets of out with verdict v into in as the
// network would, checking they go to want.
func carryVerdict(t testing.TB, out, in *Batch, v verdict, want, from netip.AddrPort) int {
	t.Helper()
	k := 0
	for i := 0; i < out.n; i++ {
		s := &out.slots[i]
		if s.verdict != v {
			continue
		}
		if s.addr != want {
			t.Fatalf("packet %d goes to %v, want %v", i, s.addr, want)
		}
		n := copy(in.slots[k].buf[netRoom:], s.out)
		in.msgs[k].N, in.msgs[k].Addr = n, from
		k++
	}
	return k
}

// TestRelayRoundTripEverySuite sends packets of every size from A through
// R to C with each suite: A seals twice (end to end, then for R), R
// re-seals the outer layer for C without the inner session, C opens both.
func TestRelayRoundTripEverySuite(t *testing.T) {
	for _, alg := range []aead.Algorithm{aead.Plain, aead.AES128, aead.AES256, aead.ChaCha20} {
		t.Run(alg.String(), func(t *testing.T) {
			x := newRelayTrio(t, alg)
			out, mid, in := newBatch(64, 2048), newBatch(64, 2048), newBatch(64, 2048)
			var pkts [][]byte
			for i := 0; i < 64; i++ {
				pkts = append(pkts, ipPacket(tunA, tunC, i*23))
			}
			pkts[63] = ipPacket(tunA, tunC, 1518-28) // the largest packet the device carries
			x.a.classifyOut(out, fillDevice(out, pkts), x.snapA)
			x.a.sealBatch(out)
			if alg != aead.Plain {
				if got, want := len(out.slots[1].out), len(pkts[1])+1+aead.Overhead+RelayOverhead; got != want {
					t.Fatalf("relayed datagram of %d bytes, want %d", got, want)
				}
			}
			x.r.classifyIn(mid, carryVerdict(t, out, mid, vSend, addrR, addrA), x.snapR)
			x.r.openBatch(mid)
			x.c.classifyIn(in, carryVerdict(t, mid, in, vForward, addrC, addrR), x.snapC)
			x.c.openBatch(in)
			for i, pkt := range pkts {
				s := &in.slots[i]
				if s.verdict != vDeliver || s.peer != x.cA || !bytes.Equal(s.out[1:], pkt) {
					t.Fatalf("packet %d: verdict %d peer %p, got %d bytes, want %d", i, s.verdict, s.peer, len(s.out), len(pkt)+1)
				}
				if start := offsetIn(s.buf, s.out) + 1; start < devRoom {
					t.Fatalf("packet %d: %d bytes in front, want at least %d", i, start, devRoom)
				}
			}
			if got := x.r.Counters.DropRelay.Load() + x.r.Counters.DropAuth.Load(); got != 0 {
				t.Fatalf("relay dropped %d", got)
			}
			if x.aC.Stats.OutPackets.Load() != 0 || x.cA.Stats.InPackets.Load() != 64 || x.rC.Stats.OutPackets.Load() != 0 {
				// (OutPackets are counted by the writers, which this test does not run.)
				t.Fatalf("stats: A->C out %d, C<-A in %d", x.aC.Stats.OutPackets.Load(), x.cA.Stats.InPackets.Load())
			}
		})
	}
}

// sealMsg seals one plaintext message (type byte + body) with sess.
func sealMsg(t testing.TB, sess *aead.Session, pt []byte) []byte {
	t.Helper()
	buf := make([]byte, aead.HeaderLen+len(pt), aead.HeaderLen+len(pt)+aead.TagLen)
	copy(buf[aead.HeaderLen:], pt)
	out, err := sess.Seal(buf, len(pt))
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), out...)
}

// deliverOne runs one datagram through p's inbound classify and open
// stages and returns its slot.
func deliverOne(p *Pipeline, snap *Snapshot, from netip.AddrPort, dgram []byte) *slot {
	b := newBatch(1, 2048)
	copy(b.slots[0].buf[netRoom:], dgram)
	b.msgs[0].N, b.msgs[0].Addr = len(dgram), from
	p.classifyIn(b, 1, snap)
	p.openBatch(b)
	return &b.slots[0]
}

func relayMsg(typ byte, node wire.NodeID, inner []byte) []byte {
	return append(append([]byte{typ}, node[:]...), inner...)
}

// TestRelayRefusals checks what a relay and a relayed node drop, each
// counted once: relaying off, unknown destination, a relay back to the
// sender, truncated messages, relayed traffic on an unknown path, relay
// messages inside a relayed session, and datagrams that claim to come from
// a relayed path's placeholder address.
func TestRelayRefusals(t *testing.T) {
	x := newRelayTrio(t, aead.AES128)
	inner := sealMsg(t, x.sessAC, []byte{wire.TypeData, 1, 2, 3})
	off := *x.snapR
	off.Relay = false
	for _, tc := range []struct {
		name    string
		p       *Pipeline
		snap    *Snapshot
		from    netip.AddrPort
		dgram   []byte
		counter func(*Counters) uint64
	}{
		{"relaying off", x.r, &off, addrA, sealMsg(t, x.sessAR, relayMsg(wire.TypeRelay, idC, inner)), dropRelay},
		{"unknown destination", x.r, x.snapR, addrA, sealMsg(t, x.sessAR, relayMsg(wire.TypeRelay, wire.NodeID{0xEE}, inner)), dropRelay},
		{"back to the sender", x.r, x.snapR, addrA, sealMsg(t, x.sessAR, relayMsg(wire.TypeRelay, idA, inner)), dropRelay},
		{"truncated relay", x.r, x.snapR, addrA, sealMsg(t, x.sessAR, []byte{wire.TypeRelay, 1, 2}), dropRelay},
		{"no datagram", x.r, x.snapR, addrA, sealMsg(t, x.sessAR, relayMsg(wire.TypeRelay, idC, nil)), dropRelay},
		{"unknown relayed path", x.c, x.snapC, addrR, sealMsg(t, x.sessRC, relayMsg(wire.TypeRelayed, wire.NodeID{0xEE}, inner)), dropUnknown},
		{"relay inside a relayed session", x.c, x.snapC, addrR, sealMsg(t, x.sessRC,
			relayMsg(wire.TypeRelayed, idA, sealMsg(t, x.sessAC, relayMsg(wire.TypeRelay, idR, inner)))), dropRelay},
		{"forged inner datagram", x.c, x.snapC, addrR, sealMsg(t, x.sessRC, relayMsg(wire.TypeRelayed, idA, sealMsg(t, x.sessRC, []byte{0, 9}))), dropAuth},
		{"from a placeholder address", x.c, x.snapC, virtCA, inner, dropUnknown},
	} {
		before := tc.counter(&tc.p.Counters)
		s := deliverOne(tc.p, tc.snap, tc.from, tc.dgram)
		if s.verdict != vDrop || tc.counter(&tc.p.Counters) != before+1 {
			t.Errorf("%s: verdict %d, counter %d -> %d", tc.name, s.verdict, before, tc.counter(&tc.p.Counters))
		}
	}
	// A relayed handshake message goes to the control plane with its path.
	s := deliverOne(x.c, x.snapC, addrR, sealMsg(t, x.sessRC, relayMsg(wire.TypeRelayed, idA, []byte{wire.InitByte, 1, 2})))
	if s.verdict != vControl || !s.init || !s.relayed || s.node != idA || s.addr != addrR || s.out[0] != wire.InitByte {
		t.Fatalf("relayed handshake: verdict %d init %v relayed %v node %x addr %v", s.verdict, s.init, s.relayed, s.node, s.addr)
	}
}

func dropRelay(c *Counters) uint64   { return c.DropRelay.Load() }
func dropUnknown(c *Counters) uint64 { return c.DropUnknownPeer.Load() }
func dropAuth(c *Counters) uint64    { return c.DropAuth.Load() }

// TestRelayPathDoesNotAllocate checks the relayed path at all three nodes:
// sealing twice, forwarding, opening twice, and the relay's writer sending
// the forwarded batch.
func TestRelayPathDoesNotAllocate(t *testing.T) {
	x := newRelayTrio(t, aead.AES128)
	sink := &sinkConn{}
	x.r.conn = sink // the fake network copies every datagram
	out, mid, in := newBatch(64, 2048), newBatch(64, 2048), newBatch(64, 2048)
	var pkts [][]byte
	for i := 0; i < 64; i++ {
		pkts = append(pkts, ipPacket(tunA, tunC, 1300))
	}
	allocs := testing.AllocsPerRun(50, func() {
		x.a.classifyOut(out, fillDevice(out, pkts), x.snapA)
		x.a.sealBatch(out)
		x.r.classifyIn(mid, carryVerdict(t, out, mid, vSend, addrR, addrA), x.snapR)
		x.r.openBatch(mid)
		x.c.classifyIn(in, carryVerdict(t, mid, in, vForward, addrC, addrR), x.snapC)
		x.c.openBatch(in)
		_, _ = x.r.in.free.Pop() // room for deliverBatch to recycle mid
		x.r.in.writeMu.Lock()
		x.r.deliverBatch(mid) // sends the forwarded datagrams
		x.r.in.writeMu.Unlock()
		out.reset()
		in.reset()
	})
	if got := x.r.Counters.Relayed.Load(); got == 0 || sink.sent == 0 {
		t.Fatal("the relay forwarded nothing")
	}
	switch {
	case testenv.RaceEnabled:
		t.Logf("%v allocations per relayed batch under -race (not asserted)", allocs)
	case allocs != 0:
		t.Errorf("%v allocations per relayed batch of 64 packets", allocs)
	}
}

// sinkConn is a udpio.Conn that takes every datagram and keeps none.
type sinkConn struct{ sent int }

func (c *sinkConn) ReadBatch([]udpio.Message) (int, error) { return 0, net.ErrClosed }
func (c *sinkConn) WriteBatch(m []udpio.Message) (int, error) {
	c.sent += len(m)
	return len(m), nil
}
func (c *sinkConn) LocalAddr() netip.AddrPort { return addrR }
func (c *sinkConn) Close() error              { return nil }
