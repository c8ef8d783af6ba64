package daemon

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/wire"
)

// fakeDataPlane is a data plane that drops everything.
type fakeDataPlane struct{ ctrl chan pipeline.ControlPacket }

func (f *fakeDataPlane) Control() <-chan pipeline.ControlPacket       { return f.ctrl }
func (f *fakeDataPlane) Publish(*pipeline.Snapshot)                   {}
func (f *fakeDataPlane) SendTo(addr netip.AddrPort, pkt []byte) error { return nil }

func testHandle(t *testing.T, cfg *config.Config) *Handle {
	t.Helper()
	id := handshake.IdentityFromPassword("ops-test")
	claims, err := ownClaims(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	peers, _ := cfg.PeerAddresses()
	node, err := control.New(control.Config{
		Handshake: &handshake.Config{Identity: id, AllowPlain: true},
		Peers:     peers, Claims: claims,
		Resolve: func(context.Context, string) ([]netip.Addr, error) { return nil, context.Canceled },
		Log:     zaptest.NewLogger(t),
	}, &fakeDataPlane{ctrl: make(chan pipeline.ControlPacket)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { node.Run(ctx, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &Handle{node: node, ifname: "tun9", log: zaptest.NewLogger(t), cfg: cfg, hooks: newHookSource(cfg)}
}

func baseConfig() *config.Config {
	c := config.Default()
	c.Crypto.Password = "x"
	c.IP = "10.1.0.1/24"
	c.Peers = []string{"192.0.2.1:3210"}
	c.Claims = []string{"10.2.0.0/16"}
	return c
}

func TestReloadAppliesRuntimeSettings(t *testing.T) {
	cfg := baseConfig()
	h := testHandle(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Alive(ctx); err != nil {
		t.Fatal(err)
	}
	other := handshake.IdentityFromPassword("other").Public().String()
	next := baseConfig()
	next.Crypto.TrustedKeys = []string{other}
	next.Peers = []string{"192.0.2.2:3210"}
	next.Claims = []string{"10.3.0.0/16"}
	next.Hook = "echo hi"
	next.Listen = "4000" // needs a restart
	changes, restart, err := h.Reload(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(changes, "\n")
	for _, want := range []string{"trusted keys: added " + other, "peers: added 192.0.2.2:3210; removed 192.0.2.1:3210",
		"claims: added 10.3.0.0/16; removed 10.2.0.0/16", "hooks changed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("changes %q lack %q", joined, want)
		}
	}
	if !slices.Equal(restart, []string{"listen"}) {
		t.Errorf("restart = %v, want [listen]", restart)
	}
	var trusted []handshake.PublicKey
	var peers []string
	var claims []wire.Range
	if err := h.node.Do(ctx, func(n *control.Node) { trusted, peers, claims = n.Trusted(), n.ConfiguredPeers(), n.Claims() }); err != nil {
		t.Fatal(err)
	}
	if len(trusted) != 1 || trusted[0].String() != other {
		t.Errorf("node trusts %v", trusted)
	}
	if !slices.Equal(peers, []string{"192.0.2.2:3210"}) {
		t.Errorf("node peers %v", peers)
	}
	if got := rangeStrings(claims); !slices.Equal(got, []string{"10.3.0.0/16", "10.1.0.1/32"}) {
		t.Errorf("node claims %v (the auto-claim must stay)", got)
	}
	if got := h.hooks.script("peer_connected"); got != "echo hi" {
		t.Errorf("hook runner's script after reload: %q", got)
	}
	if h.Config().Listen != cfg.Listen || h.Config().Hook != "echo hi" {
		t.Errorf("config in effect: listen %q hook %q", h.Config().Listen, h.Config().Hook)
	}
	// The same file again changes nothing.
	changes, restart, err = h.Reload(ctx, next)
	if err != nil || len(changes) != 0 || len(restart) != 1 {
		t.Errorf("second reload: changes %v restart %v err %v", changes, restart, err)
	}
}

func TestReloadRefusesBadValuesAndKeepsConfig(t *testing.T) {
	cfg := baseConfig()
	h := testHandle(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, mutate := range []func(c *config.Config){
		func(c *config.Config) { c.Crypto.TrustedKeys = []string{"not-a-key!"} },
		func(c *config.Config) { c.Claims = []string{"10.0.0.0/99"} },
		func(c *config.Config) { c.Peers = []string{"[::1"} },
	} {
		next := baseConfig()
		next.Peers = []string{"192.0.2.77:1"}
		next.Hook = "echo refused"
		mutate(next)
		if _, _, err := h.Reload(ctx, next); err == nil {
			t.Errorf("bad config accepted: %+v", next.Crypto.TrustedKeys)
		}
		if h.Config() != cfg || h.hooks.script("vpn_started") != "" {
			t.Fatal("a refused reload replaced the configuration in effect")
		}
		var peers []string
		h.node.Do(ctx, func(n *control.Node) { peers = n.ConfiguredPeers() })
		if !slices.Equal(peers, []string{"192.0.2.1:3210"}) {
			t.Fatalf("a refused reload changed the node's peers: %v", peers)
		}
	}
}

func TestAliveFailsWhenControlIsStuck(t *testing.T) {
	h := testHandle(t, baseConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// Block the control goroutine: Alive must time out (the watchdog's
	// signal that control is stuck).
	release := make(chan struct{})
	go h.node.Do(context.Background(), func(*control.Node) { <-release })
	defer close(release)
	time.Sleep(20 * time.Millisecond)
	if err := h.Alive(ctx); err == nil {
		t.Fatal("Alive succeeded while the control goroutine was stuck")
	}
}

func TestNeedsRestartNamesEachSetting(t *testing.T) {
	a, b := baseConfig(), baseConfig()
	if got := needsRestart(a, b); len(got) != 0 {
		t.Fatalf("equal configs: %v", got)
	}
	b.Device.Name = "x"
	b.Mode = config.ModeSwitch
	b.Crypto.Algorithms = []string{"plain"}
	got := needsRestart(a, b)
	if !slices.Equal(got, []string{"device", "crypto (identity or algorithms)", "mode"}) {
		t.Fatalf("needsRestart = %v", got)
	}
	keepRunning(b, a)
	if len(needsRestart(a, b)) != 0 {
		t.Fatalf("keepRunning left differences: %v", needsRestart(a, b))
	}
}
