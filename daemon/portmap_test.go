package daemon

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/portmap"
)

// nullPlane is a data plane that drops everything.
type nullPlane struct{ ctrl chan pipeline.ControlPacket }

func (p nullPlane) Control() <-chan pipeline.ControlPacket { return p.ctrl }
func (nullPlane) Publish(*pipeline.Snapshot)               {}
func (nullPlane) SendTo(netip.AddrPort, []byte) error      { return nil }

// memGateway is an in-memory IGD.
type memGateway struct {
	mu       sync.Mutex
	mappings map[uint16]netip.AddrPort
	deleted  []uint16
}

func (g *memGateway) AddPortMapping(_ context.Context, ext uint16, in netip.AddrPort, _ time.Duration, _ string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mappings[ext] = in
	return nil
}

func (g *memGateway) AddAnyPortMapping(context.Context, netip.AddrPort, time.Duration, string) (uint16, error) {
	return 0, portmap.ErrUnsupported
}

func (g *memGateway) DeletePortMapping(_ context.Context, ext uint16) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.mappings, ext)
	g.deleted = append(g.deleted, ext)
	return nil
}

func (g *memGateway) ExternalIP(context.Context) (netip.Addr, error) {
	return netip.MustParseAddr("11.99.0.11"), nil
}
func (g *memGateway) LocalAddr() netip.Addr { return netip.MustParseAddr("192.168.7.2") }
func (g *memGateway) String() string        { return "memory gateway" }

func runNode(t *testing.T, ctx context.Context) *control.Node {
	t.Helper()
	hc := &handshake.Config{Identity: handshake.IdentityFromPassword("portmap-test")}
	node, err := control.New(control.Config{Handshake: hc, ListenAddr: netip.MustParseAddrPort("0.0.0.0:3210")}, nullPlane{ctrl: make(chan pipeline.ControlPacket)})
	if err != nil {
		t.Fatal(err)
	}
	node.Start(ctx, time.Now())
	done := make(chan struct{})
	go func() { defer close(done); node.Run(ctx, nil) }()
	t.Cleanup(func() { <-done })
	return node
}

func ownAddrs(t *testing.T, ctx context.Context, node *control.Node) []netip.AddrPort {
	var out []netip.AddrPort
	if err := node.Do(ctx, func(n *control.Node) { out = n.OwnAddrs() }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPortMappingPublishesOwnAddrsAndRemovesOnClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	node := runNode(t, ctx)
	g := &memGateway{mappings: map[uint16]netip.AddrPort{}}
	m := startPortMappingWith(ctx, true, netip.MustParseAddrPort("0.0.0.0:3210"), 0, node,
		func(context.Context) (portmap.Gateway, error) { return g, nil }, zaptest.NewLogger(t))
	want := []netip.AddrPort{netip.MustParseAddrPort("11.99.0.11:3210"), netip.MustParseAddrPort("192.168.7.2:3210")}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(ownAddrs(t, ctx, node), want) {
		if time.Now().After(deadline) {
			t.Fatalf("own addresses %v, want %v", ownAddrs(t, ctx, node), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.mu.Lock()
	in := g.mappings[3210]
	g.mu.Unlock()
	if in != netip.MustParseAddrPort("192.168.7.2:3210") {
		t.Errorf("gateway maps 3210 to %v", in)
	}
	cancel() // the daemon's shutdown: the node stops, then the mapper closes
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.deleted, []uint16{3210}) {
		t.Errorf("deleted %v, want [3210]", g.deleted)
	}
}

func TestPortMappingSpecificListenAddrIsInternal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	node := runNode(t, ctx)
	g := &memGateway{mappings: map[uint16]netip.AddrPort{}}
	m := startPortMappingWith(ctx, true, netip.MustParseAddrPort("192.168.7.9:4000"), 0, node,
		func(context.Context) (portmap.Gateway, error) { return g, nil }, zaptest.NewLogger(t))
	defer m.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if mp, ok := m.Mapping(); ok {
			if mp.Internal != netip.MustParseAddrPort("192.168.7.9:4000") {
				t.Fatalf("internal %v, want the listen address", mp.Internal)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no mapping")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPortMappingOff(t *testing.T) {
	called := false
	m := startPortMappingWith(context.Background(), false, netip.MustParseAddrPort("0.0.0.0:3210"), 0, nil,
		func(context.Context) (portmap.Gateway, error) { called = true; return nil, errors.New("x") }, zaptest.NewLogger(t))
	if m != nil || called {
		t.Fatal("port forwarding ran although it is off")
	}
}
