package control

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/peercloud/peercloud/internal/interop"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/udpio/udptest"
	"github.com/peercloud/peercloud/wire"
)

// lockedBuffer is a key log the test reads while a control goroutine writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// keys parses the key log.
func (l *lockedBuffer) keys(t *testing.T) []interop.KeyEvent {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	evs, err := interop.ParseKeylog(strings.NewReader(l.b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func opensWithAny(keys []interop.KeyEvent, pkt []byte) []byte {
	for _, k := range keys {
		if pt, err := interop.OpenWithKey(k.Key, pkt); err == nil {
			return pt
		}
	}
	return nil
}

func simNodeID(n *simNode) wire.NodeID {
	var id wire.NodeID
	binary.BigEndian.PutUint64(id[:], uint64(n.idx)+1)
	return id
}

// relayedVia reports whether n reaches m through relay r (and not
// directly).
func (n *simNode) relayedVia(m, r *simNode) bool {
	snap := n.snap()
	return snap.Relayed[pipeline.RelayKey{Via: r.addr, Node: simNodeID(m)}] != nil && snap.ByAddr[m.addr] == nil
}

// relayNet is a public node R and two nodes A and B that know only R and
// cannot reach each other while blocked is set; it records the datagrams R
// sends to B.
type relayNet struct {
	s         *sim
	r, a, b   *simNode
	logs      [3]*lockedBuffer
	blocked   atomic.Bool
	mu        sync.Mutex
	rToB      [][]byte
	rToBCount atomic.Int64
}

func newRelayNet(t *testing.T, noRelayR, noRelayB bool) *relayNet {
	x := &relayNet{s: newSim(t, 0)}
	for i := range x.logs {
		x.logs[i] = &lockedBuffer{}
	}
	x.blocked.Store(true)
	x.r = x.s.addNode(simNodeOpts{noRelay: noRelayR, keylog: x.logs[0]})
	x.a = x.s.addNode(simNodeOpts{peers: []string{x.r.addr.String()}, keylog: x.logs[1]})
	x.b = x.s.addNode(simNodeOpts{peers: []string{x.r.addr.String()}, noRelay: noRelayB, keylog: x.logs[2]})
	x.s.setFilter(func(p udptest.Packet) udptest.Action {
		ab := (p.From == x.a.addr && p.To == x.b.addr) || (p.From == x.b.addr && p.To == x.a.addr)
		if ab && x.blocked.Load() {
			return udptest.Drop
		}
		if p.From == x.r.addr && p.To == x.b.addr {
			x.mu.Lock()
			if len(x.rToB) < 4096 {
				x.rToB = append(x.rToB, append([]byte(nil), p.Data...))
			}
			x.mu.Unlock()
		}
		return udptest.Deliver
	})
	return x
}

// TestSimRelay: A and B cannot reach each other, both know R. They connect
// end to end through R, traffic flows both ways, R cannot open what it
// forwards (checked with every node's key log), and once the direct path
// opens they move to it and drop the relayed path.
func TestSimRelay(t *testing.T) {
	x := newRelayNet(t, false, false)
	s, a, b, r := x.s, x.a, x.b, x.r
	secs := s.runUntil("relayed connection", 60, func() bool { return a.relayedVia(b, r) && b.relayedVia(a, r) }, nil)
	t.Logf("A and B connected through R after %d simulated seconds; %s", secs, s.describe())
	for i := 0; i < 5; i++ {
		simSend(t, a, b, "a to b through r")
		simSend(t, b, a, "b to a through r")
	}
	if got := r.pl.Counters.Relayed.Load(); got < 10 {
		t.Fatalf("R forwarded %d relay messages", got)
	}
	if routeIn(a.snap(), b.tunIP) == nil || routeIn(a.snap(), b.tunIP).Via == nil {
		t.Fatal("A does not route B's claim to the relayed peer")
	}
	var st []PeerStatus
	if err := a.node.Do(t.Context(), func(n *Node) { st = n.Status() }); err != nil {
		t.Fatal(err)
	}
	vias := 0
	for _, p := range st {
		if p.Via == r.addr.String() {
			vias++
			if p.NodeID != fmtNodeID(simNodeID(b)) {
				t.Errorf("relayed peer %s has node id %s, want B's", p.Addr, p.NodeID)
			}
		}
	}
	if vias != 1 {
		t.Fatalf("A's status shows %d peers via R: %+v", vias, st)
	}
	// R never relays its own relayed paths and A does not list B to others.
	for _, pi := range a.node.nodeInfoForTest(t).Peers {
		if pi.NodeID == simNodeID(b) {
			t.Fatal("A's peer list names B, which it reaches only through R")
		}
	}
	x.checkRelayCannotRead(t)

	// The direct path opens: A and B find it and leave the relay.
	x.blocked.Store(false)
	secs = s.runUntil("direct connection", 60, func() bool {
		return a.hasPeer(b) && b.hasPeer(a) && len(a.snap().Relayed) == 0 && len(b.snap().Relayed) == 0
	}, nil)
	t.Logf("moved to the direct path %d simulated seconds after it opened", secs)
	before := r.pl.Counters.Relayed.Load()
	simSend(t, a, b, "a to b directly")
	simSend(t, b, a, "b to a directly")
	if got := r.pl.Counters.Relayed.Load(); got != before {
		t.Fatalf("R still forwarded %d messages after the move", got-before)
	}
}

// checkRelayCannotRead opens every datagram R sent B: the outer layer with
// B's keys (it must be a relayed message from A), the inner one with A's
// keys; no key R ever had opens an inner datagram.
func (x *relayNet) checkRelayCannotRead(t *testing.T) {
	t.Helper()
	keysR, keysA, keysB := x.logs[0].keys(t), x.logs[1].keys(t), x.logs[2].keys(t)
	if len(keysR) == 0 || len(keysA) == 0 || len(keysB) == 0 {
		t.Fatalf("key logs: R %d, A %d, B %d keys", len(keysR), len(keysA), len(keysB))
	}
	x.mu.Lock()
	dgrams := append([][]byte(nil), x.rToB...)
	x.mu.Unlock()
	idA := simNodeID(x.a)
	var relayed, handshakes, sealed int
	for i, d := range dgrams {
		if d[0] == wire.InitByte {
			continue // R's own handshake with B
		}
		pt := opensWithAny(keysB, d)
		if pt == nil {
			t.Fatalf("datagram %d from R to B does not open with B's keys", i)
		}
		if pt[0] != wire.TypeRelayed {
			continue // R's own messages to B
		}
		relayed++
		if len(pt) < 1+wire.RelayHeaderLen+1 || !bytes.Equal(pt[1:1+wire.RelayHeaderLen], idA[:]) {
			t.Fatalf("relayed datagram %d does not name A as its source: %x", i, pt[:min(len(pt), 17)])
		}
		inner := pt[1+wire.RelayHeaderLen:]
		if inner[0] == wire.InitByte {
			handshakes++
			continue
		}
		sealed++
		if opensWithAny(keysR, inner) != nil {
			t.Fatalf("relayed datagram %d: a key R holds opens the inner datagram", i)
		}
		if opensWithAny(keysA, inner) == nil {
			t.Fatalf("relayed datagram %d: the inner datagram does not open with A's keys", i)
		}
	}
	t.Logf("R sent B %d relayed datagrams from A: %d handshake, %d sealed end to end, none readable by R", relayed, handshakes, sealed)
	if handshakes == 0 || sealed < 5 {
		t.Fatalf("too few relayed datagrams to show anything: %d handshake, %d sealed", handshakes, sealed)
	}
}

// TestSimRelayOptOut: A and B stay apart when R does not relay (A never
// asks it: R did not announce relaying) and when B opted out (R refuses to
// forward to a node that did not announce relaying, and counts it).
func TestSimRelayOptOut(t *testing.T) {
	for _, tc := range []struct {
		name               string
		noRelayR, noRelayB bool
	}{{"relay_opted_out", true, false}, {"destination_opted_out", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			x := newRelayNet(t, tc.noRelayR, tc.noRelayB)
			x.s.run(40, nil)
			if x.a.hasPeer(x.b) || len(x.a.snap().Relayed) != 0 || len(x.b.snap().Relayed) != 0 {
				t.Fatalf("A and B connected; %s", x.s.describe())
			}
			if !x.a.hasPeer(x.r) || !x.b.hasPeer(x.r) {
				t.Fatalf("A or B lost R; %s", x.s.describe())
			}
			refused, forwarded := x.r.pl.Counters.DropRelay.Load(), x.r.pl.Counters.Relayed.Load()
			if forwarded != 0 || (tc.noRelayB && refused == 0) || (tc.noRelayR && refused != 0) {
				t.Fatalf("R forwarded %d and refused %d relay messages", forwarded, refused)
			}
		})
	}
}

// TestSimRelayGoneWithRelay: when the relay leaves, the relayed peers go
// at once.
func TestSimRelayGoneWithRelay(t *testing.T) {
	x := newRelayNet(t, false, false)
	s, a, b, r := x.s, x.a, x.b, x.r
	s.runUntil("relayed connection", 60, func() bool { return a.relayedVia(b, r) && b.relayedVia(a, r) }, nil)
	s.leave(r)
	s.runUntil("relayed peers dropped", 5, func() bool { return len(a.snap().Relayed) == 0 && len(b.snap().Relayed) == 0 }, nil)
	if routeIn(a.snap(), b.tunIP) != nil {
		t.Fatal("A still routes B's claim")
	}
}

// nodeInfoForTest returns the node info n would send, read on its
// control goroutine.
func (n *Node) nodeInfoForTest(t *testing.T) *wire.NodeInfo {
	t.Helper()
	var ni *wire.NodeInfo
	if err := n.Do(t.Context(), func(n *Node) { ni = n.nodeInfo() }); err != nil {
		t.Fatal(err)
	}
	return ni
}

// TestSimPeerMoved: a node that reappears at another address with the same
// node id (its NAT mapping moved, or it rebound) replaces its old entry at
// once: the stale address no longer competes for its claims until the
// peer timeout (300 s).
func TestSimPeerMoved(t *testing.T) {
	s := newSim(t, 0)
	seed := s.addNode(simNodeOpts{})
	a := s.addNode(simNodeOpts{peers: []string{seed.addr.String()}})
	b := s.addNode(simNodeOpts{peers: []string{seed.addr.String()}})
	s.runUntil("full mesh", 30, s.fullMesh, nil)
	s.crash(b) // no close message: the others still think b is at its address
	moved := s.addNode(simNodeOpts{peers: []string{seed.addr.String()}, sameNodeAs: b,
		claims: []wire.Range{{Base: wire.AddressFromIP(b.tunIP), PrefixLen: 32}}})
	s.runUntil("a connected to the moved node", 30, func() bool { return a.hasPeer(moved) }, nil)
	if a.hasPeer(b) || seed.hasPeer(b) {
		t.Fatalf("the old address is still a peer (a: %v, seed: %v); %s", a.hasPeer(b), seed.hasPeer(b), s.describe())
	}
	if p := a.routeTo(b.tunIP); p == nil || p.Addr != moved.addr {
		t.Fatalf("a routes the moved node's claim to %v", p)
	}
	simSend(t, a, moved, "to the node at its new address")
}

// TestSimRelayProbesAreQuiet: while the direct path of a relayed peer stays
// closed, its direct probes (a new one within 10 s of the last giving up)
// fail without hook events; the
// relayed connection itself is announced once.
func TestSimRelayProbesAreQuiet(t *testing.T) {
	x := &relayNet{s: newSim(t, 0)}
	for i := range x.logs {
		x.logs[i] = &lockedBuffer{}
	}
	x.blocked.Store(true)
	var mu sync.Mutex
	var events []Event
	x.r = x.s.addNode(simNodeOpts{})
	x.a = x.s.addNode(simNodeOpts{peers: []string{x.r.addr.String()}, events: func(ev Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	x.b = x.s.addNode(simNodeOpts{peers: []string{x.r.addr.String()}})
	x.s.setFilter(func(p udptest.Packet) udptest.Action {
		if (p.From == x.a.addr && p.To == x.b.addr) || (p.From == x.b.addr && p.To == x.a.addr) {
			return udptest.Drop
		}
		return udptest.Deliver
	})
	x.s.runUntil("relayed connection", 60, func() bool { return x.a.relayedVia(x.b, x.r) }, nil)
	// A pending handshake repeats its ping every second for 120 s before
	// it gives up; 400 s are the first, ordinary attempt and two probes.
	x.s.run(400, nil)
	if !x.a.relayedVia(x.b, x.r) {
		t.Fatal("the relayed connection did not last")
	}
	mu.Lock()
	defer mu.Unlock()
	connected, aboutB := 0, 0
	for _, ev := range events {
		if ev.Peer == x.b.addr {
			aboutB++
		}
		if ev.Kind == EventPeerConnected && ev.NodeID == fmtNodeID(simNodeID(x.b)) {
			connected++
		}
	}
	if aboutB > 2 || connected != 1 {
		// Before the relay, a's first direct attempt is an ordinary one
		// (connecting, then timeout): at most those two.
		t.Fatalf("%d events about b's direct address, %d connections to b: %+v", aboutB, connected, events)
	}
	if got := x.s.net.Dropped(); got < 6 {
		t.Fatalf("only %d datagrams dropped: the probes did not run", got)
	}
}
