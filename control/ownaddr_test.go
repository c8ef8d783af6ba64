package control

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peercloud/peercloud/udpio/udptest"
)

// ownAddrsOf reads tn's own addresses on its control goroutine.
func ownAddrsOf(t *testing.T, tn *testNode) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	if err := tn.node.Do(context.Background(), func(n *Node) { out = n.OwnAddrs() }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExternalAddrSurvivesReset(t *testing.T) {
	network := udptest.NewNetwork()
	now := time.Unix(1_700_000_000, 0)
	a := startNode(t, network, "192.0.2.1:3210", now, nodeOpts{tunIP: "10.96.0.1"})
	ext := netip.MustParseAddrPort("11.99.0.11:3210")
	learned := netip.MustParseAddrPort("198.51.100.7:40000")
	do := func(f func(*Node)) {
		if err := a.node.Do(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	do(func(n *Node) {
		n.AddExternalAddr(ext)
		n.AddExternalAddr(ext) // twice: once in the list
		n.AddExternalAddr(netip.MustParseAddrPort("[::ffff:11.99.0.12]:3211"))
		n.AddExternalAddr(netip.AddrPort{})                        // ignored
		n.AddExternalAddr(netip.MustParseAddrPort("0.0.0.0:3210")) // ignored
		n.AddExternalAddr(netip.MustParseAddrPort("11.99.0.13:0")) // ignored
		n.addOwnAddr(learned)                                      // as if a peer list named us
	})
	want := []netip.AddrPort{a.addr, ext, netip.MustParseAddrPort("11.99.0.12:3211"), learned}
	if got := ownAddrsOf(t, a); !slices.Equal(got, want) {
		t.Fatalf("own addresses %v, want %v", got, want)
	}
	// After the 300 s reset the learned address is gone, the external
	// ones stay.
	a.tick(now.Add((ownAddrResetInterval + 1) * time.Second))
	want = want[:3]
	if got := ownAddrsOf(t, a); !slices.Equal(got, want) {
		t.Fatalf("after the reset: own addresses %v, want %v", got, want)
	}
	do(func(n *Node) { n.RemoveExternalAddr(ext); n.RemoveExternalAddr(netip.MustParseAddrPort("1.2.3.4:5")) })
	want = []netip.AddrPort{a.addr, netip.MustParseAddrPort("11.99.0.12:3211")}
	if got := ownAddrsOf(t, a); !slices.Equal(got, want) {
		t.Fatalf("after removal: own addresses %v, want %v", got, want)
	}
	a.tick(now.Add((2*ownAddrResetInterval + 2) * time.Second))
	if got := ownAddrsOf(t, a); !slices.Equal(got, want) {
		t.Fatalf("a removed address came back after the reset: %v", got)
	}
}

func TestExternalAddrAdvertisedToPeers(t *testing.T) {
	network := udptest.NewNetwork()
	now := time.Unix(1_700_000_000, 0)
	clock := &now
	b := startNode(t, network, "192.0.2.2:3210", now, nodeOpts{tunIP: "10.96.0.2"})
	a := startNode(t, network, "192.0.2.1:3210", now, nodeOpts{tunIP: "10.96.0.1", peers: []string{"192.0.2.2:3210"}})
	waitFor(t, "connected", clock, []*testNode{a, b}, func() bool { return a.connectedTo(b.addr) && b.connectedTo(a.addr) })
	ext := netip.MustParseAddrPort("11.99.0.11:3210")
	// addrsOfA is what b's peer record says a's addresses are.
	addrsOfA := func() []netip.AddrPort {
		var out []netip.AddrPort
		b.node.Do(context.Background(), func(n *Node) {
			if p := n.peers[a.addr]; p != nil {
				out = slices.Clone(p.addrs)
			}
		})
		return out
	}
	if slices.Contains(addrsOfA(), ext) {
		t.Fatal("b knows the external address before it was added")
	}
	a.node.Do(context.Background(), func(n *Node) { n.AddExternalAddr(ext) })
	// The node info goes out on the next tick, not after the keepalive.
	*clock = clock.Add(time.Second)
	a.tick(*clock)
	waitFor(t, "b learns a's external address", nil, nil, func() bool { return slices.Contains(addrsOfA(), ext) })
	a.node.Do(context.Background(), func(n *Node) { n.RemoveExternalAddr(ext) })
	*clock = clock.Add(time.Second)
	a.tick(*clock)
	waitFor(t, "b forgets a's external address", nil, nil, func() bool { return !slices.Contains(addrsOfA(), ext) })
}
