package control

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercloud/peercloud/udpio/udptest"
)

// TestPeerNamesAreReResolved: a configured peer given by name is resolved
// at start and again every resolveInterval (VpnCloud's 300 s), so a peer
// that moves to another address is found again without a restart.
func TestPeerNamesAreReResolved(t *testing.T) {
	network := udptest.NewNetwork()
	now := time.Unix(1_700_000_000, 0)
	var target atomic.Pointer[netip.Addr]
	nowhere := netip.MustParseAddr("192.0.2.99")
	target.Store(&nowhere)
	var lookups atomic.Int32
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host != "peer-b.example" {
			t.Errorf("resolved %q", host)
		}
		lookups.Add(1)
		return []netip.Addr{*target.Load()}, nil
	}
	b := startNode(t, network, "192.0.2.2:3210", now, nodeOpts{tunIP: "10.95.0.2"})
	a := startNode(t, network, "192.0.2.1:3210", now, nodeOpts{tunIP: "10.95.0.1", peers: []string{"peer-b.example:3210"}, resolve: resolve})
	step := func(seconds int) {
		for i := 0; i < seconds; i++ {
			now = now.Add(time.Second)
			a.tick(now)
			b.tick(now)
		}
	}
	step(10)
	if a.connectedTo(b.addr) {
		t.Fatal("connected although the name pointed elsewhere")
	}
	first := lookups.Load()
	if first == 0 {
		t.Fatal("the peer name was never resolved")
	}
	// The peer "moves" to b's address; a finds it at the next re-resolution.
	moved := netip.MustParseAddr("192.0.2.2")
	target.Store(&moved)
	step(100)
	if a.connectedTo(b.addr) {
		t.Fatal("re-resolved before the resolve interval")
	}
	var took int
	for took = 110; took < resolveInterval+40 && !a.connectedTo(b.addr); took++ {
		step(1)
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, "connected after re-resolution", &now, []*testNode{a, b}, func() bool { return a.connectedTo(b.addr) })
	if lookups.Load() <= first {
		t.Fatal("no second lookup")
	}
	t.Logf("connected %d simulated seconds after start (resolve interval %d s)", took, resolveInterval)
}
