package udptest

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestNATFiltering(t *testing.T) {
	n := NewNetwork()
	inside, a, b := n.NewConn(), n.NewConn(), n.NewConn()
	defer inside.Close()
	defer a.Close()
	defer b.Close()
	var clock atomic.Int64
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	n.SetNAT(inside.LocalAddr(), 30*time.Second, now)

	// Unsolicited datagrams are filtered.
	send(t, a, inside.LocalAddr(), "unsolicited")
	if got := recv(t, inside); len(got) != 0 {
		t.Fatalf("unsolicited datagram got through: %q", got)
	}
	if n.Filtered() != 1 || n.Dropped() != 1 {
		t.Fatalf("filtered %d dropped %d, want 1 1", n.Filtered(), n.Dropped())
	}

	// Sending to a opens the mapping for a only (endpoint-restricted).
	send(t, inside, a.LocalAddr(), "out")
	if got := recv(t, a); len(got) != 1 || got[0] != "out" {
		t.Fatalf("outbound through the NAT: %q", got)
	}
	send(t, a, inside.LocalAddr(), "reply")
	send(t, b, inside.LocalAddr(), "stranger")
	if got := recv(t, inside); len(got) != 1 || got[0] != "reply" {
		t.Fatalf("inside received %q, want only the reply", got)
	}
	if n.Filtered() != 2 {
		t.Fatalf("filtered %d, want 2", n.Filtered())
	}

	// The mapping lives for the timeout after the last outbound datagram.
	clock.Store(30)
	send(t, a, inside.LocalAddr(), "at the edge")
	if got := recv(t, inside); len(got) != 1 {
		t.Fatalf("datagram at the end of the mapping's life: %q", got)
	}
	clock.Store(31)
	send(t, a, inside.LocalAddr(), "too late")
	if got := recv(t, inside); len(got) != 0 {
		t.Fatalf("datagram after the mapping expired got through: %q", got)
	}
	send(t, inside, a.LocalAddr(), "refresh")
	recv(t, a)
	send(t, a, inside.LocalAddr(), "after refresh")
	if got := recv(t, inside); len(got) != 1 {
		t.Fatalf("refreshed mapping did not let the reply in: %q", got)
	}

	// A hook that drops the outbound datagram still opens the mapping (the
	// NAT saw it leave).
	n.SetHook(func(p Packet) Action {
		if p.From == inside.LocalAddr() {
			return Drop
		}
		return Deliver
	})
	send(t, inside, b.LocalAddr(), "lost")
	n.SetHook(nil)
	send(t, b, inside.LocalAddr(), "from b")
	if got := recv(t, inside); len(got) != 1 || got[0] != "from b" {
		t.Fatalf("mapping opened by a lost datagram: %q", got)
	}

	// Outside the NAT nothing is filtered; ClearNAT lifts it.
	before := n.Filtered()
	send(t, b, a.LocalAddr(), "open")
	if got := recv(t, a); len(got) != 1 {
		t.Fatalf("endpoint without NAT filtered: %q", got)
	}
	n.ClearNAT(inside.LocalAddr())
	c := n.NewConn()
	defer c.Close()
	send(t, c, inside.LocalAddr(), "after clear")
	if got := recv(t, inside); len(got) != 1 || n.Filtered() != before {
		t.Fatalf("after ClearNAT: got %q, filtered %d", got, n.Filtered())
	}
}

func TestQueued(t *testing.T) {
	n := NewNetwork()
	a, b := n.NewConn(), n.NewConn()
	defer a.Close()
	defer b.Close()
	if q := n.Queued(); q != 0 {
		t.Fatalf("empty network: Queued %d", q)
	}
	send(t, a, b.LocalAddr(), "1", "2")
	n.SetHook(func(Packet) Action { return Hold })
	send(t, b, a.LocalAddr(), "held")
	n.SetHook(nil)
	if q := n.Queued(); q != 3 {
		t.Fatalf("Queued %d, want 3 (two queued, one held)", q)
	}
	recv(t, b)
	n.Flush()
	if q := n.Queued(); q != 1 {
		t.Fatalf("Queued %d after reading b, want 1", q)
	}
	recv(t, a)
	if q := n.Queued(); q != 0 {
		t.Fatalf("Queued %d after reading everything", q)
	}
}
