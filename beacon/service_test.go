package beacon

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPick(t *testing.T) {
	all := addrs("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1", "10.0.0.5:1")
	seen := map[netip.AddrPort]bool{}
	for range 200 {
		got := pick(all, StoredAddrs)
		if len(got) != 3 {
			t.Fatalf("pick gave %d", len(got))
		}
		for i, a := range got {
			if !slices.Contains(all, a) || slices.Contains(got[i+1:], a) {
				t.Fatalf("pick gave %v", got)
			}
			seen[a] = true
		}
	}
	if len(seen) != len(all) {
		t.Errorf("200 picks used only %d of %d addresses: not random", len(seen), len(all))
	}
	if got := pick(all[:2], 3); len(got) != 2 {
		t.Errorf("pick of 2 gave %v", got)
	}
	if got := pick(nil, 3); len(got) != 0 {
		t.Errorf("pick of none gave %v", got)
	}
}

func TestNewServiceNeedsCallbacks(t *testing.T) {
	if _, err := NewService(ServiceConfig{Store: "/x"}); !errors.Is(err, ErrConfig) {
		t.Error("Store without OwnAddrs accepted")
	}
	if _, err := NewService(ServiceConfig{Load: "|cat"}); !errors.Is(err, ErrConfig) {
		t.Error("Load without Connect accepted")
	}
	if _, err := NewService(ServiceConfig{}); err != nil {
		t.Errorf("disabled service: %v", err)
	}
}

// connects records what a Service connects to.
type connects struct {
	mu  sync.Mutex
	got [][]netip.AddrPort
	ch  chan struct{}
}

func newConnects() *connects { return &connects{ch: make(chan struct{}, 100)} }

func (c *connects) connect(_ context.Context, a []netip.AddrPort) error {
	c.mu.Lock()
	c.got = append(c.got, a)
	c.mu.Unlock()
	c.ch <- struct{}{}
	return nil
}

func (c *connects) wait(t *testing.T, n int) [][]netip.AddrPort {
	t.Helper()
	for range n {
		select {
		case <-c.ch:
		case <-time.After(10 * time.Second):
			t.Fatal("no connect")
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func TestServiceFileStoreLoadAndRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beacon")
	own := addrs("192.0.2.1:3210", "192.0.2.2:3210", "192.0.2.3:3210", "192.0.2.4:3210")
	store, err := NewService(ServiceConfig{
		Store: path, Interval: 50 * time.Millisecond, Password: "pw", Log: zaptest.NewLogger(t),
		OwnAddrs: func(context.Context) ([]netip.AddrPort, error) { return own, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); store.Run(ctx) }()

	c := newConnects()
	load, err := NewService(ServiceConfig{Load: path, Interval: 50 * time.Millisecond, Password: "pw", Connect: c.connect, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithCancel(context.Background())
	ldone := make(chan struct{})
	go func() { defer close(ldone); load.Run(lctx) }()
	// Loads repeat every interval: wait for two with addresses.
	var got [][]netip.AddrPort
	for len(got) < 2 {
		got = c.wait(t, 1)
		got = slices.DeleteFunc(got, func(a []netip.AddrPort) bool { return len(a) == 0 })
	}
	lcancel()
	<-ldone
	for _, a := range got {
		if len(a) != StoredAddrs {
			t.Fatalf("loaded %v, want %d addresses", a, StoredAddrs)
		}
		for _, x := range a {
			if !slices.Contains(own, x) {
				t.Fatalf("loaded %v, not an own address", x)
			}
		}
	}
	cancel()
	<-done
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("beacon file still there after Run returned: %v", err)
	}
}

func TestServiceCommandStoreLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "published")
	own := addrs("[2001:db8::7]:3210")
	store, err := NewService(ServiceConfig{
		Store: "|echo \"$beacon\" > " + path, OwnAddrs: func(context.Context) ([]netip.AddrPort, error) { return own, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Store(ctx); err != nil {
		t.Fatal(err)
	}
	c := newConnects()
	load, _ := NewService(ServiceConfig{Load: "|cat " + path, Connect: c.connect})
	got, err := load.Load(ctx)
	if err != nil || !slices.Equal(got, own) {
		t.Fatalf("Load = %v, %v", got, err)
	}
	if calls := c.wait(t, 1); !slices.Equal(calls[0], own) {
		t.Fatalf("connected to %v", calls)
	}
	// A command store leaves its output alone on shutdown.
	rctx, cancel := context.WithCancel(ctx)
	cancel()
	store.Run(rctx)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("command output removed: %v", err)
	}
}

func TestServiceHangingLoadDoesNotBlockStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beacon")
	s, err := NewService(ServiceConfig{
		Store: path, Load: "|sleep 60", Interval: time.Hour,
		OwnAddrs: func(context.Context) ([]netip.AddrPort, error) { return twoPeers, nil },
		Connect:  func(context.Context, []netip.AddrPort) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("beacon not stored while the load command hangs")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel with a hanging command")
	}
}

func TestServiceErrorsAreReported(t *testing.T) {
	s, _ := NewService(ServiceConfig{
		Store:    filepath.Join(t.TempDir(), "missing", "beacon"),
		OwnAddrs: func(context.Context) ([]netip.AddrPort, error) { return nil, errors.New("node stopped") },
	})
	if err := s.Store(context.Background()); err == nil {
		t.Error("Store with failing OwnAddrs succeeded")
	}
	s, _ = NewService(ServiceConfig{
		Store:    filepath.Join(t.TempDir(), "missing", "beacon"),
		OwnAddrs: func(context.Context) ([]netip.AddrPort, error) { return nil, nil },
	})
	if err := s.Store(context.Background()); err == nil {
		t.Error("Store into a missing directory succeeded")
	}
	s, _ = NewService(ServiceConfig{Load: "|echo " + New("").Encode(twoPeers, time.Now()),
		Connect: func(context.Context, []netip.AddrPort) error { return errors.New("nope") }})
	if _, err := s.Load(context.Background()); err == nil {
		t.Error("Load with failing Connect succeeded")
	}
	// Beacons older than the TTL are not loaded.
	s, _ = NewService(ServiceConfig{Load: "|echo " + New("").Encode(twoPeers, time.Now().Add(-51*time.Hour)),
		Connect: func(context.Context, []netip.AddrPort) error { t.Error("connected to an expired beacon"); return nil }})
	if _, err := s.Load(context.Background()); !errors.Is(err, ErrExpired) {
		t.Errorf("expired beacon: %v", err)
	}
}
