package control

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/peercloud/peercloud/udpio/udptest"
)

func TestConnectAddrsFromBeacon(t *testing.T) {
	network := udptest.NewNetwork()
	now := time.Unix(1_700_000_000, 0)
	clock := &now
	b := startNode(t, network, "192.0.2.2:3210", now, nodeOpts{tunIP: "10.95.0.2"})
	a := startNode(t, network, "192.0.2.1:3210", now, nodeOpts{tunIP: "10.95.0.1"}) // knows no peer
	ctx := context.Background()
	beaconAddrs := []netip.AddrPort{
		a.addr,                                  // own: skipped
		{},                                      // invalid: skipped
		netip.MustParseAddrPort("0.0.0.0:3210"), // unspecified: skipped
		netip.MustParseAddrPort("[::ffff:192.0.2.2]:3210"), // b, mapped
		b.addr, // b again: already pending
	}
	var started int
	if err := a.node.Do(ctx, func(n *Node) { started = n.ConnectAddrs(beaconAddrs) }); err != nil {
		t.Fatal(err)
	}
	if started != 1 {
		t.Fatalf("ConnectAddrs started %d handshakes, want 1 (b only)", started)
	}
	waitFor(t, "a and b connected through the beacon's address", clock, []*testNode{a, b}, func() bool {
		return a.connectedTo(b.addr) && b.connectedTo(a.addr)
	})
	send(t, a, b, "found through a beacon")
	// Loading the same beacon again starts nothing: b is a peer.
	a.node.Do(ctx, func(n *Node) { started = n.ConnectAddrs(beaconAddrs) })
	if started != 0 {
		t.Fatalf("second load started %d handshakes with known peers", started)
	}
	if got := a.node.Counters.Connected.Load(); got != 1 {
		t.Fatalf("connected counter %d, want 1", got)
	}
}
