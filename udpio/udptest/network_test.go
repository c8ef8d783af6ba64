package udptest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercloud/peercloud/udpio"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func send(t *testing.T, c *Conn, to netip.AddrPort, payloads ...string) {
	t.Helper()
	msgs := make([]udpio.Message, len(payloads))
	for i, p := range payloads {
		msgs[i] = udpio.Message{Buf: []byte(p), N: len(p), Addr: to}
	}
	if n, err := c.WriteBatch(msgs); err != nil || n != len(msgs) {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
}

// recv returns everything queued at c (without blocking when empty).
func recv(t *testing.T, c *Conn) []string {
	t.Helper()
	var out []string
	for len(c.in) > 0 {
		msgs := make([]udpio.Message, 8)
		for i := range msgs {
			msgs[i].Buf = make([]byte, 64)
		}
		n, err := c.ReadBatch(msgs)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs[:n] {
			out = append(out, string(m.Buf[:m.N]))
		}
	}
	return out
}

func TestDeliveryAndAddresses(t *testing.T) {
	n := NewNetwork()
	a, b := n.NewConn(), n.NewConn()
	defer a.Close()
	defer b.Close()
	if a.LocalAddr() == b.LocalAddr() || a.LocalAddr().Port() != udpio.DefaultPort {
		t.Fatalf("addresses %v %v", a.LocalAddr(), b.LocalAddr())
	}
	send(t, a, b.LocalAddr(), "one", "two", "three")
	msgs := make([]udpio.Message, 2)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 4)
	}
	k, err := b.ReadBatch(msgs)
	if err != nil || k != 2 {
		t.Fatalf("ReadBatch = %d, %v", k, err)
	}
	if string(msgs[0].Buf[:msgs[0].N]) != "one" || msgs[0].Addr != a.LocalAddr() {
		t.Fatalf("got %q from %v", msgs[0].Buf[:msgs[0].N], msgs[0].Addr)
	}
	k, err = b.ReadBatch(msgs[:1])
	if err != nil || k != 1 || msgs[0].N != 4 || string(msgs[0].Buf) != "thre" {
		t.Fatalf("truncated read = %d, %v, %q", k, err, msgs[0].Buf[:msgs[0].N])
	}
}

func TestListen(t *testing.T) {
	n := NewNetwork()
	c, err := n.Listen(netip.MustParseAddrPort("[::ffff:192.0.2.1]:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.LocalAddr().Addr().Is4() || c.LocalAddr().Port() == 0 {
		t.Fatalf("LocalAddr = %v", c.LocalAddr())
	}
	if _, err := n.Listen(c.LocalAddr()); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("double bind: %v", err)
	}
	if _, err := n.Listen(netip.AddrPort{}); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("zero address: %v", err)
	}
	v6, err := n.Listen(netip.MustParseAddrPort("[2001:db8::1]:3210"))
	if err != nil {
		t.Fatal(err)
	}
	defer v6.Close()
	// Sending to the v4-mapped form reaches the IPv4 listener.
	send(t, v6, netip.AddrPortFrom(netip.AddrFrom16(c.LocalAddr().Addr().As16()), c.LocalAddr().Port()), "mapped")
	if got := recv(t, c); len(got) != 1 || got[0] != "mapped" {
		t.Fatalf("got %q", got)
	}
	// Closing frees the address.
	c.Close()
	c2, err := n.Listen(c.LocalAddr())
	if err != nil {
		t.Fatalf("rebind after close: %v", err)
	}
	c2.Close()
}

func TestWriteCopiesBuffer(t *testing.T) {
	n := NewNetwork()
	a, b := n.NewConn(), n.NewConn()
	defer a.Close()
	defer b.Close()
	buf := []byte("before")
	if _, err := a.WriteBatch([]udpio.Message{{Buf: buf, N: len(buf), Addr: b.LocalAddr()}}); err != nil {
		t.Fatal(err)
	}
	copy(buf, "after!")
	if got := recv(t, b); len(got) != 1 || got[0] != "before" {
		t.Fatalf("got %q", got)
	}
}

func TestHooks(t *testing.T) {
	n := NewNetwork()
	a, b := n.NewConn(), n.NewConn()
	defer a.Close()
	defer b.Close()
	actions := map[string]Action{"drop": Drop, "dup": Duplicate, "late": Hold}
	var seen atomic.Int32
	n.SetHook(func(p Packet) Action {
		seen.Add(1)
		if p.From != a.LocalAddr() || p.To != b.LocalAddr() {
			t.Errorf("hook saw %v -> %v", p.From, p.To)
		}
		return actions[string(p.Data)]
	})
	send(t, a, b.LocalAddr(), "first", "drop", "dup", "late", "next")
	want := []string{"first", "dup", "dup", "next", "late"}
	if got := recv(t, b); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if seen.Load() != 5 || n.Dropped() != 1 {
		t.Fatalf("hook calls %d, dropped %d", seen.Load(), n.Dropped())
	}
	send(t, a, b.LocalAddr(), "late")
	if got := recv(t, b); len(got) != 0 {
		t.Fatalf("held packet delivered early: %q", got)
	}
	n.Flush()
	if got := recv(t, b); len(got) != 1 || got[0] != "late" {
		t.Fatalf("after Flush: %q", got)
	}
	n.SetHook(nil)
	send(t, a, b.LocalAddr(), "drop")
	if got := recv(t, b); len(got) != 1 {
		t.Fatalf("after removing hook: %q", got)
	}
}

func TestDropsToUnknownAndFullQueue(t *testing.T) {
	n := NewNetwork()
	a, b := n.NewConn(), n.NewConn()
	defer a.Close()
	defer b.Close()
	send(t, a, netip.MustParseAddrPort("10.9.9.9:1"), "nobody")
	if n.Dropped() != 1 {
		t.Fatalf("dropped = %d", n.Dropped())
	}
	msgs := make([]udpio.Message, QueueLen+5)
	for i := range msgs {
		msgs[i] = udpio.Message{Buf: []byte{1}, N: 1, Addr: b.LocalAddr()}
	}
	if k, err := a.WriteBatch(msgs); err != nil || k != len(msgs) {
		t.Fatalf("WriteBatch = %d, %v", k, err)
	}
	if n.Dropped() != 6 || len(b.in) != QueueLen {
		t.Fatalf("dropped %d, queued %d", n.Dropped(), len(b.in))
	}
}

func TestWriteBatchRejectsBadMessages(t *testing.T) {
	n := NewNetwork()
	a := n.NewConn()
	defer a.Close()
	if k, err := a.WriteBatch([]udpio.Message{{Buf: []byte("x"), N: 3, Addr: a.LocalAddr()}}); k != 0 || !errors.Is(err, udpio.ErrBadMessage) {
		t.Fatalf("long N: %d, %v", k, err)
	}
	if k, err := a.WriteBatch([]udpio.Message{{Buf: []byte("x"), N: 1}}); k != 0 || !errors.Is(err, udpio.ErrBadAddress) {
		t.Fatalf("zero addr: %d, %v", k, err)
	}
	if k, err := a.ReadBatch(nil); k != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", k, err)
	}
}

func TestCloseSemantics(t *testing.T) {
	n := NewNetwork()
	a, b := n.NewConn(), n.NewConn()
	defer b.Close()
	errc := make(chan error)
	go func() {
		_, err := a.ReadBatch([]udpio.Message{{Buf: make([]byte, 8)}})
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadBatch after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadBatch")
	}
	if _, err := a.WriteBatch([]udpio.Message{{Buf: []byte("x"), N: 1, Addr: b.LocalAddr()}}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
	if _, err := a.ReadBatch([]udpio.Message{{Buf: make([]byte, 8)}}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadBatch on closed: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Packets to a closed Conn are dropped.
	send(t, b, a.LocalAddr(), "gone")
	if n.Dropped() != 1 {
		t.Fatalf("dropped = %d", n.Dropped())
	}
}

// ListenShards shares one address among Conns, each datagram going to the
// one its pick function names; closing the first frees the address.
func TestListenShards(t *testing.T) {
	n := NewNetwork()
	ap := netip.MustParseAddrPort("192.0.2.9:3210")
	shards, err := n.ListenShards(ap, 3, func(data []byte) int { return len(data) - 1 })
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shards {
		defer s.Close()
		if s.LocalAddr() != ap {
			t.Fatalf("shard at %v, want %v", s.LocalAddr(), ap)
		}
	}
	a := n.NewConn()
	defer a.Close()
	send(t, a, ap, "a", "bb", "ccc", "dddd", "e")
	for i, want := range [][]string{{"a", "dddd", "e"}, {"bb"}, {"ccc"}} {
		if got := recv(t, shards[i]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("shard %d got %q, want %q", i, got, want)
		}
	}
	if _, err := n.Listen(ap); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("listen on a sharded address: %v", err)
	}
	shards[0].Close()
	c, err := n.Listen(ap)
	if err != nil {
		t.Fatalf("address not freed: %v", err)
	}
	defer c.Close()
	send(t, a, ap, "bb")
	if got := recv(t, c); len(got) != 1 {
		t.Fatalf("new listener got %q", got)
	}
	if _, err := n.ListenShards(ap, 0, nil); err == nil {
		t.Fatal("0 shards accepted")
	}
}
