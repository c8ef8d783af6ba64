package control

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/udpio/udptest"
	"github.com/peercloud/peercloud/wire"
)

func do(t *testing.T, tn *testNode, f func(*Node)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tn.node.Do(ctx, f); err != nil {
		t.Fatal(err)
	}
}

func TestSetTrustedAdmitsNewKey(t *testing.T) {
	network := udptest.NewNetwork()
	now := time.Unix(1_700_000_000, 0)
	clock := &now
	idA, idB := handshake.IdentityFromPassword("node a"), handshake.IdentityFromPassword("node b")
	b := startNode(t, network, "192.0.2.2:3210", now, nodeOpts{tunIP: "10.95.0.2", identity: idB})
	a := startNode(t, network, "192.0.2.1:3210", now, nodeOpts{tunIP: "10.95.0.1", identity: idA,
		trusted: []handshake.PublicKey{idA.Public(), idB.Public()}, peers: []string{"192.0.2.2:3210"}})
	for i := 0; i < 5; i++ {
		*clock = clock.Add(time.Second)
		a.tick(*clock)
		b.tick(*clock)
	}
	time.Sleep(50 * time.Millisecond)
	if a.connectedTo(b.addr) || b.connectedTo(a.addr) {
		t.Fatal("b admitted a before trusting its key")
	}
	var removed int
	do(t, b, func(n *Node) { removed = n.SetTrusted([]handshake.PublicKey{idB.Public(), idA.Public()}) })
	if removed != 0 {
		t.Fatalf("SetTrusted removed %d peers, want 0", removed)
	}
	waitFor(t, "a admitted after b trusts its key", clock, []*testNode{a, b}, func() bool {
		return a.connectedTo(b.addr) && b.connectedTo(a.addr)
	})
	send(t, a, b, "newly trusted")
	var got []handshake.PublicKey
	do(t, b, func(n *Node) { got = n.Trusted() })
	if len(got) != 2 || !slices.Contains(got, idA.Public()) {
		t.Fatalf("Trusted() = %v", got)
	}
}

func TestSetTrustedRevokesPeer(t *testing.T) {
	idA, idB := handshake.IdentityFromPassword("node a"), handshake.IdentityFromPassword("node b")
	both := []handshake.PublicKey{idA.Public(), idB.Public()}
	network := udptest.NewNetwork()
	now := time.Unix(1_700_000_000, 0)
	clock := &now
	b := startNode(t, network, "192.0.2.2:3210", now, nodeOpts{tunIP: "10.95.0.2", identity: idB, trusted: both})
	a := startNode(t, network, "192.0.2.1:3210", now, nodeOpts{tunIP: "10.95.0.1", identity: idA, trusted: both, peers: []string{"192.0.2.2:3210"}})
	waitFor(t, "connected", clock, []*testNode{a, b}, func() bool { return a.connectedTo(b.addr) && b.connectedTo(a.addr) })
	var removed int
	do(t, b, func(n *Node) { removed = n.SetTrusted(nil) }) // own key only
	if removed != 1 {
		t.Fatalf("SetTrusted removed %d peers, want 1", removed)
	}
	if b.connectedTo(a.addr) {
		t.Fatal("b still lists a after revoking its key")
	}
	// a keeps trying; b must not let it back in.
	for i := 0; i < 20; i++ {
		*clock = clock.Add(time.Second)
		a.tick(*clock)
		b.tick(*clock)
	}
	time.Sleep(50 * time.Millisecond)
	if b.connectedTo(a.addr) {
		t.Fatal("a got back in with a revoked key")
	}
	var got []handshake.PublicKey
	do(t, b, func(n *Node) { got = n.Trusted() })
	if !slices.Equal(got, []handshake.PublicKey{idB.Public()}) {
		t.Fatalf("Trusted() after SetTrusted(nil) = %v, want own key", got)
	}
}

func TestSetPeersConnectsAndKeepsBackoff(t *testing.T) {
	network := udptest.NewNetwork()
	now := time.Unix(1_700_000_000, 0)
	clock := &now
	b := startNode(t, network, "192.0.2.2:3210", now, nodeOpts{tunIP: "10.95.0.2"})
	a := startNode(t, network, "192.0.2.1:3210", now, nodeOpts{tunIP: "10.95.0.1", peers: []string{"192.0.2.9:3210"}})
	var kept *reconnectEntry
	do(t, a, func(n *Node) {
		kept = n.reconnect[0]
		kept.tries = 7
		n.SetPeers([]string{"192.0.2.9:3210", "192.0.2.2:3210", "192.0.2.2:3210"})
	})
	waitFor(t, "a connects to the added peer", clock, []*testNode{a, b}, func() bool {
		return a.connectedTo(b.addr) && b.connectedTo(a.addr)
	})
	do(t, a, func(n *Node) {
		if got := n.ConfiguredPeers(); !slices.Equal(got, []string{"192.0.2.9:3210", "192.0.2.2:3210"}) {
			t.Errorf("ConfiguredPeers() = %v (duplicates must be dropped)", got)
		}
		if n.reconnect[0] != kept {
			t.Error("the kept address lost its reconnect state")
		}
		n.SetPeers(nil)
		if len(n.reconnect) != 0 || len(n.ConfiguredPeers()) != 0 {
			t.Errorf("SetPeers(nil) left %d entries", len(n.reconnect))
		}
	})
	if !a.connectedTo(b.addr) {
		t.Fatal("removing a configured peer must not cut its connection")
	}
}

func TestSetClaimsTellsPeersAtOnce(t *testing.T) {
	a, b, _, _ := pair(t, nodeOpts{})
	extra := wire.Range{Base: wire.AddressFromIP(netip.MustParseAddr("10.96.0.0")), PrefixLen: 24}
	var claims []wire.Range
	do(t, a, func(n *Node) {
		claims = append(n.Claims(), extra)
		n.SetClaims(claims)
	})
	// No tick: the node info goes out with SetClaims.
	waitFor(t, "b sees a's new claim", nil, nil, func() bool {
		for _, p := range b.node.Peers() {
			if p.Addr == a.addr.String() && slices.Contains(p.Claims, "10.96.0.0/24") {
				return true
			}
		}
		return false
	})
	do(t, a, func(n *Node) {
		if got := n.Claims(); !slices.Equal(got, claims) {
			t.Errorf("Claims() = %v, want %v", got, claims)
		}
	})
}
