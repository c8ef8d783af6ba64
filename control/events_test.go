package control

import (
	"context"
	"testing"
	"time"

	"github.com/peercloud/peercloud/udpio/udptest"
)

func nextEvent(t *testing.T, ch chan Event, kind string) Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event", kind)
		}
	}
}

func TestEventsAndStatus(t *testing.T) {
	network := udptest.NewNetwork()
	now := time.Unix(1_700_000_000, 0)
	clock := &now
	evA, evB := make(chan Event, 64), make(chan Event, 64)
	b := startNode(t, network, "192.0.2.2:3210", now, nodeOpts{tunIP: "10.95.0.2", events: evB})
	a := startNode(t, network, "192.0.2.1:3210", now, nodeOpts{tunIP: "10.95.0.1", peers: []string{"192.0.2.2:3210"}, events: evA})
	if ev := nextEvent(t, evA, EventPeerConnecting); ev.Peer != b.addr {
		t.Fatalf("a: connecting to %v", ev.Peer)
	}
	waitFor(t, "connected", clock, []*testNode{a, b}, func() bool { return a.connectedTo(b.addr) && b.connectedTo(a.addr) })
	ev := nextEvent(t, evA, EventPeerConnected)
	if ev.Peer != b.addr || len(ev.Claims) != 1 || ev.Claims[0] != "10.95.0.2/32" || ev.NodeID == "" {
		t.Fatalf("a: connected event %+v", ev)
	}
	nextEvent(t, evB, EventPeerConnected)
	send(t, a, b, "traffic for the counters")

	var st []PeerStatus
	if err := a.node.Do(context.Background(), func(n *Node) { st = n.Status() }); err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Addr != b.addr.String() || st[0].Algorithm != "AES128" || !st[0].Extended || !st[0].Initiator {
		t.Fatalf("status %+v", st)
	}
	if st[0].Traffic.OutPackets.Load() == 0 {
		t.Fatal("status shows no traffic")
	}

	b.stop()
	if ev := nextEvent(t, evA, EventPeerDisconnected); ev.Peer != b.addr || ev.Reason == "" {
		t.Fatalf("a: disconnected event %+v", ev)
	}
}
