package pipeline

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/route"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
	"github.com/peercloud/peercloud/udpio"
)

// laneNode is one node of TestLaneLoop: a small lane over a device that
// waits in the kernel (SocketTUN) and real loopback shards steered as the
// daemon steers them.
type laneNode struct {
	p     *Pipeline
	small *tuntest.SocketTUN
	bulk  *tuntest.ChannelTUN
	addr  netip.AddrPort
}

func newLaneNode(t *testing.T, cfg Config, name string) *laneNode {
	return newWrappedLaneNode(t, cfg, name, nil)
}

// newWrappedLaneNode is newLaneNode with the small lane's device and
// socket passed through wrap, when given.
func newWrappedLaneNode(t *testing.T, cfg Config, name string,
	wrap func(*tuntest.SocketTUN, *udpio.Socket) (tunio.Device, udpio.Conn)) *laneNode {
	t.Helper()
	small, err := tuntest.NewSocketTUN(name+"0", tunio.TUN, 1400)
	if err != nil {
		t.Fatal(err)
	}
	shards, err := udpio.ListenShards("127.0.0.1:0", 2, udpio.Options{})
	if err != nil {
		small.Close()
		t.Fatal(err)
	}
	if err := udpio.SteerSmall(shards, SmallDatagram); err != nil {
		t.Fatal(err)
	}
	bulk := tuntest.NewChannelTUN(name+"1", tunio.TUN, 1400)
	var dev tunio.Device = small
	var conn udpio.Conn = shards[0]
	if wrap != nil {
		dev, conn = wrap(small, shards[0])
	}
	p := NewMulti(cfg, []tunio.Device{dev, bulk}, []udpio.Conn{conn, shards[1]}, nil)
	return &laneNode{p: p, small: small, bulk: bulk, addr: shards[0].LocalAddr()}
}

// linkLaneNodes gives a and b one session and a route to each other's
// tunnel address and starts both. stop closes them (once) and fails the
// test if they do not stop.
func linkLaneNodes(t *testing.T, a, b *laneNode, seed byte) (stop func()) {
	t.Helper()
	tx, rx := sessionPair(t, aead.ChaCha20, seed)
	peerB := &Peer{Addr: b.addr, Session: tx} // A's view of B
	peerA := &Peer{Addr: a.addr, Session: rx} // B's view of A
	a.p.Publish(&Snapshot{
		Routes: route.NewTable([]route.Entry[*Peer]{{Prefix: ipKey(tunB), Bits: 32, Value: peerB}}),
		ByAddr: map[netip.AddrPort]*Peer{b.addr: peerB},
		Peers:  []*Peer{peerB},
	})
	b.p.Publish(&Snapshot{
		Routes: route.NewTable([]route.Entry[*Peer]{{Prefix: ipKey(tunA), Bits: 32, Value: peerA}}),
		ByAddr: map[netip.AddrPort]*Peer{a.addr: peerA},
		Peers:  []*Peer{peerA},
	})
	a.p.Start()
	b.p.Start()
	stopped := false
	return func() {
		if stopped {
			return
		}
		stopped = true
		done := make(chan struct{})
		go func() {
			for _, n := range []*laneNode{a, b} {
				n.p.Close()
				n.p.Wait()
				for range n.p.Control() {
				}
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not stop the pipelines")
		}
	}
}

// TestLaneLoop: two nodes whose small lanes run the loop that waits in
// the kernel carry small packets both ways, each flow in order: sparse
// ones, a steady stream (which makes a lane linger, unless lingering is
// off), a burst of several batches at once, and a packet after the lane
// went back to Go's poller. Close stops the loops. With one processor the
// lane never lingers (it would hold the only one).
func TestLaneLoop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		linger time.Duration
		procs  int
	}{{"linger", 100 * time.Millisecond, 0}, {"never", -1, 0}, {"one processor", 100 * time.Millisecond, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.procs > 0 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tc.procs))
			}
			lingers := tc.linger > 0 && tc.procs != 1
			cfg := Config{Workers: 2, Batches: 4, BatchSize: 8, SmallLane: true, SmallLaneLinger: tc.linger}
			a, b := newLaneNode(t, cfg, "a"), newLaneNode(t, cfg, "b")
			stop := linkLaneNodes(t, a, b, 5)
			defer stop()
			for _, n := range []*laneNode{a, b} {
				if n.p.small == nil || n.p.small.loop == nil {
					t.Fatal("the small lane does not run its loop")
				}
			}

			next := make([]int, 2)     // flow 0, A to B, checked at B
			backNext := make([]int, 2) // flow 1, B to A, checked at A
			send := func(from, to *laneNode, flow, seq int, dst netip.Addr) {
				t.Helper()
				pkt := tuntest.UDPPacket(netip.AddrPortFrom(srcOf(dst), uint16(1000+flow)), netip.AddrPortFrom(dst, 2000), sizedPayload(seq, 64))
				if err := from.small.Inject(pkt); err != nil {
					t.Fatal(err)
				}
			}
			expect := func(at *laneNode, order []int) {
				t.Helper()
				pkt, err := at.small.Receive(5 * time.Second)
				if err != nil {
					t.Fatalf("nothing arrived: %v; A %+v B %+v", err, a.p.Counters.Values(), b.p.Counters.Values())
				}
				checkFlowOrder(t, pkt, order)
			}
			seqA, seqB := 0, 0
			pingPong := func(gap time.Duration) {
				send(a, b, 0, seqA, tunB)
				seqA++
				expect(b, next)
				send(b, a, 1, seqB, tunA)
				seqB++
				expect(a, backNext)
				time.Sleep(gap)
			}
			pingPong(0) // sparse
			for range 20 {
				pingPong(2 * time.Millisecond) // steady
			}
			if got := a.p.small.loop.lingers.Load(); lingers != (got > 0) {
				t.Errorf("A's lane started lingering %d times (linger %v, GOMAXPROCS %d)", got, tc.linger, runtime.GOMAXPROCS(0))
			}
			// A burst of several batches at once. The sender's socket
			// sends runs of equal datagrams as one GSO packet, which the
			// receiving port's program steers by its whole length to the
			// bulk lane: each packet arrives once, through either lane.
			const burst = 3*8 + 5
			first := seqA
			for range burst {
				send(a, b, 0, seqA, tunB)
				seqA++
			}
			seen := map[int]bool{}
			for deadline := time.Now().Add(5 * time.Second); len(seen) < burst && time.Now().Before(deadline); {
				var pkt []byte
				select {
				case pkt = <-b.bulk.Outbound:
				default:
					pkt, _ = b.small.Receive(20 * time.Millisecond)
				}
				if pkt == nil {
					continue
				}
				_, _, payload, ok := tuntest.ParseUDPPacket(pkt)
				seq := int(payload[0])<<24 | int(payload[1])<<16 | int(payload[2])<<8 | int(payload[3])
				if !ok || seq < first || seq >= seqA || seen[seq] {
					t.Fatalf("burst: unexpected packet %d (ok %v)", seq, ok)
				}
				seen[seq] = true
			}
			if len(seen) != burst {
				t.Fatalf("burst: %d of %d packets arrived", len(seen), burst)
			}
			next[0] = seqA
			// After the linger the lane waits in Go's poller again, and
			// the next packet still gets through.
			waits := a.p.small.loop.idleWaits.Load()
			time.Sleep(300 * time.Millisecond)
			if lingers && a.p.small.loop.idleWaits.Load() == waits {
				t.Error("A's lane did not go back to Go's poller after the linger")
			}
			pingPong(0)
			if got, want := b.p.Counters.NetIn.Load(), uint64(seqA); got != want {
				t.Errorf("B read %d datagrams, want %d", got, want)
			}
			stop()
		})
	}
}

// srcOf is the tunnel address of the other node.
func srcOf(dst netip.Addr) netip.Addr {
	if dst == tunB {
		return tunA
	}
	return tunB
}

// sizedPayload is a payload of n bytes starting with seq.
func sizedPayload(seq, n int) []byte {
	p := make([]byte, n)
	p[0], p[1], p[2], p[3] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	return p
}

// loggedDevice and loggedConn record the small lane's device reads and
// socket sends in order.
type loggedDevice struct {
	*tuntest.SocketTUN
	log *eventLog
}

func (d loggedDevice) ReadNoWait(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := d.SocketTUN.ReadNoWait(bufs, sizes, offset)
	d.log.add(fmt.Sprintf("read %d: %d", len(bufs), n))
	return n, err
}

type loggedConn struct {
	*udpio.Socket
	log *eventLog
}

func (c loggedConn) WriteBatch(msgs []udpio.Message) (int, error) {
	c.log.add(fmt.Sprintf("send %d", len(msgs)))
	return c.Socket.WriteBatch(msgs)
}

type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

// TestLaneLoneFirst: a lone packet on the small lane (a ping) is read and
// sent on its own before the read that would batch whatever else is
// queued and finds the queue empty, so that read is off its path; once a
// wake-up finds several packets, the next one reads a whole batch first.
func TestLaneLoneFirst(t *testing.T) {
	const batch = 8
	cfg := Config{Workers: 2, Batches: 4, BatchSize: batch, SmallLane: true, SmallLaneLinger: 100 * time.Millisecond}
	log := &eventLog{}
	a := newWrappedLaneNode(t, cfg, "a", func(d *tuntest.SocketTUN, c *udpio.Socket) (tunio.Device, udpio.Conn) {
		return loggedDevice{d, log}, loggedConn{c, log}
	})
	b := newLaneNode(t, cfg, "b")
	defer linkLaneNodes(t, a, b, 7)()
	if a.p.small == nil || a.p.small.loop == nil {
		t.Fatal("the small lane does not run its loop")
	}
	seq := 0
	inject := func() {
		t.Helper()
		pkt := tuntest.UDPPacket(netip.AddrPortFrom(tunA, 1000), netip.AddrPortFrom(tunB, 2000), sizedPayload(seq, 64))
		seq++
		if err := a.small.Inject(pkt); err != nil {
			t.Fatal(err)
		}
	}
	receive := func(n int) {
		t.Helper()
		for range n {
			if _, err := b.small.Receive(5 * time.Second); err != nil {
				t.Fatalf("nothing arrived: %v", err)
			}
		}
	}
	lone := fmt.Sprintf("read 1: 1|send 1|read %d: 0", batch)
	for i := range 5 {
		log.take()
		inject()
		receive(1)
		time.Sleep(5 * time.Millisecond) // the read after the send
		got := log.take()
		// Ignore wake-ups that found nothing.
		got = slices.DeleteFunc(got, func(e string) bool { return e == "read 1: 0" })
		if s := strings.Join(got, "|"); s != lone {
			t.Fatalf("lone packet %d: device reads and sends %q, want %q", i, s, lone)
		}
	}
	// A burst: some wake-up finds several packets queued and reads them
	// as a batch. (Runs of equal datagrams leave A's socket as one GSO
	// packet, which B's port steers to its bulk lane: count both lanes.)
	log.take()
	const burst = 3 * batch
	for range burst {
		inject()
	}
	arrived := 0
	for deadline := time.Now().Add(5 * time.Second); arrived < burst && time.Now().Before(deadline); {
		select {
		case <-b.bulk.Outbound:
			arrived++
		default:
			if _, err := b.small.Receive(20 * time.Millisecond); err == nil {
				arrived++
			}
		}
	}
	if arrived != burst {
		t.Fatalf("burst: %d of %d packets arrived", arrived, burst)
	}
	batched := false
	for _, e := range log.take() {
		var size, n int
		if _, err := fmt.Sscanf(e, "read %d: %d", &size, &n); err == nil && size == batch && n >= 2 {
			batched = true
		}
	}
	if !batched {
		t.Errorf("a burst of %d packets was never read as a batch", burst)
	}
}

// makeLinger sends n small packets from a to b, 2 ms apart, which makes
// a's lane linger.
func makeLinger(t *testing.T, a, b *laneNode, n int) {
	t.Helper()
	for seq := range n {
		pkt := tuntest.UDPPacket(netip.AddrPortFrom(tunA, 1000), netip.AddrPortFrom(tunB, 2000), sizedPayload(seq, 64))
		if err := a.small.Inject(pkt); err != nil {
			t.Fatal(err)
		}
		if _, err := b.small.Receive(5 * time.Second); err != nil {
			t.Fatalf("packet %d did not arrive: %v", seq, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if a.p.small.loop.lingers.Load() == 0 {
		t.Fatal("A's lane did not linger")
	}
}

// TestLaneLingerLetsCollectorStop: while the small lane lingers (waiting
// in the kernel, keeping its processor) with no packets coming, the
// garbage collector still stops the world at once: the runtime's
// preemption signal ends the lane's wait instead of the wait starting
// over, which would hold the collector until the next packet.
func TestLaneLingerLetsCollectorStop(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	cfg := Config{Workers: 1, Batches: 4, BatchSize: 8, SmallLane: true, SmallLaneLinger: 5 * time.Second}
	a, b := newLaneNode(t, cfg, "a"), newLaneNode(t, cfg, "b")
	stop := linkLaneNodes(t, a, b, 7)
	defer stop()
	makeLinger(t, a, b, 10)
	waits := a.p.small.loop.idleWaits.Load()
	for i := range 5 {
		done := make(chan struct{})
		go func() {
			runtime.GC()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("collection %d did not finish in 2 s while the lane lingered", i)
		}
	}
	if a.p.small.loop.idleWaits.Load() != waits {
		t.Error("A's lane stopped lingering during the test; it proves nothing")
	}
}

// TestLaneLingerYieldsOnTimer: a lingering lane yields its processor on
// its timer (every schedEvery) even when no packet comes, since its waits
// have no timeout of their own; once the linger is over and the lane
// waits in Go's poller, the timer is off and nothing wakes it.
func TestLaneLingerYieldsOnTimer(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	const linger = 400 * time.Millisecond
	cfg := Config{Workers: 1, Batches: 4, BatchSize: 8, SmallLane: true, SmallLaneLinger: linger}
	a, b := newLaneNode(t, cfg, "a"), newLaneNode(t, cfg, "b")
	stop := linkLaneNodes(t, a, b, 9)
	defer stop()
	l := a.p.small.loop
	makeLinger(t, a, b, 5)
	// Lingering, no traffic: ~12 expiries in 100 ms.
	w0, y0 := l.idleWaits.Load(), l.yields.Load()
	time.Sleep(100 * time.Millisecond)
	if y := l.yields.Load() - y0; y < 5 {
		t.Errorf("%d yields in 100 ms of lingering without traffic, want about 12", y)
	}
	if l.idleWaits.Load() != w0 {
		t.Fatal("A's lane stopped lingering too early; the test proves nothing")
	}
	// After the linger: back in Go's poller, no more expiries.
	deadline := time.Now().Add(5 * time.Second)
	for l.idleWaits.Load() == w0 {
		if time.Now().After(deadline) {
			t.Fatal("A's lane did not go back to Go's poller after the linger")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waits, y1 := l.idleWaits.Load(), l.yields.Load()
	time.Sleep(100 * time.Millisecond)
	if y, w := l.yields.Load()-y1, l.idleWaits.Load()-waits; y != 0 || w != 0 {
		t.Errorf("idle lane: %d yields and %d more waits in 100 ms, want none (the timer should be off)", y, w)
	}
}
