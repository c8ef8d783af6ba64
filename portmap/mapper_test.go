package portmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeGateway is an in-memory Gateway recording every call.
type fakeGateway struct {
	mu            sync.Mutex
	anyPort       bool            // AddAnyPortMapping works (IGD2)
	onlyPermanent bool            // leases other than 0 are refused
	refuse        map[uint16]bool // ports the gateway refuses
	refuseAll     bool
	externalErr   error
	mappings      map[uint16]time.Duration
	calls         []string
}

func newFakeGateway() *fakeGateway {
	return &fakeGateway{refuse: map[uint16]bool{}, mappings: map[uint16]time.Duration{}}
}

var errConflict = errors.New("ConflictInMappingEntry")

func (g *fakeGateway) AddPortMapping(_ context.Context, ext uint16, internal netip.AddrPort, lease time.Duration, desc string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, fmt.Sprintf("add %d %s %v", ext, internal, lease))
	if g.onlyPermanent && lease != 0 {
		return ErrOnlyPermanentLeases
	}
	if g.refuseAll || g.refuse[ext] {
		return errConflict
	}
	g.mappings[ext] = lease
	return nil
}

func (g *fakeGateway) AddAnyPortMapping(_ context.Context, internal netip.AddrPort, lease time.Duration, desc string) (uint16, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, fmt.Sprintf("any %s %v", internal, lease))
	if !g.anyPort {
		return 0, ErrUnsupported
	}
	if g.onlyPermanent && lease != 0 {
		return 0, ErrOnlyPermanentLeases
	}
	if g.refuseAll {
		return 0, errConflict
	}
	g.mappings[40000] = lease
	return 40000, nil
}

func (g *fakeGateway) DeletePortMapping(_ context.Context, ext uint16) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, fmt.Sprintf("del %d", ext))
	if _, ok := g.mappings[ext]; !ok {
		return errors.New("NoSuchEntryInArray")
	}
	delete(g.mappings, ext)
	return nil
}

func (g *fakeGateway) ExternalIP(context.Context) (netip.Addr, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return netip.MustParseAddr("11.99.0.11"), g.externalErr
}

func (g *fakeGateway) LocalAddr() netip.Addr { return netip.MustParseAddr("192.168.7.2") }
func (g *fakeGateway) String() string        { return "fake gateway" }

func (g *fakeGateway) set(f func(*fakeGateway)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

func (g *fakeGateway) takeCalls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.calls
	g.calls = nil
	return c
}

// seq returns 50000, 50001, ... as the "random" ports.
func seq() func() uint16 {
	n := uint16(50000)
	return func() uint16 { n++; return n - 1 }
}

// events collects the callbacks.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) { e.mu.Lock(); e.log = append(e.log, s); e.mu.Unlock() }
func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

func newTestMapper(g *fakeGateway, ev *events, log *zap.Logger, lease time.Duration) *Mapper {
	return New(Config{
		Port:       3210,
		Lease:      lease,
		Discover:   func(context.Context) (Gateway, error) { return g, nil },
		OnMapped:   func(m Mapping) { ev.add("mapped " + m.External.String()) },
		OnUnmapped: func(m Mapping) { ev.add("unmapped " + m.External.String()) },
		Log:        log,
		Rand:       seq(),
	})
}

func TestCandidatePorts(t *testing.T) {
	got := candidatePorts(3210, seq())
	want := []uint16{3210, 0, 3211, 3212, 3213, 3214, 50000, 50001, 50002, 50003, 50004}
	if !slices.Equal(got, want) {
		t.Errorf("candidatePorts(3210) = %v, want %v", got, want)
	}
	// Near the top of the range the ports wrap but never become 0, and a
	// random 0 is skipped.
	zeros := []uint16{0, 7, 0, 8, 9, 10, 11, 12}
	got = candidatePorts(65534, func() uint16 { p := zeros[0]; zeros = zeros[1:]; return p })
	want = []uint16{65534, 0, 65535, 1, 2, 7, 8, 9, 10, 11, 12}
	if !slices.Equal(got, want) {
		t.Errorf("candidatePorts(65534) = %v, want %v", got, want)
	}
}

func TestRenewIn(t *testing.T) {
	for lease, want := range map[time.Duration]time.Duration{
		1800 * time.Second: 1740 * time.Second,
		3 * time.Minute:    2 * time.Minute,
		2 * time.Minute:    time.Minute,
		4 * time.Second:    2 * time.Second,
	} {
		if got := renewIn(lease); got != want {
			t.Errorf("renewIn(%v) = %v, want %v", lease, got, want)
		}
	}
}

func TestMapsListenPortFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, ev := newFakeGateway(), &events{}
		m := newTestMapper(g, ev, nil, 0)
		m.Start(t.Context())
		synctest.Wait()
		mp, ok := m.Mapping()
		want := Mapping{Internal: netip.MustParseAddrPort("192.168.7.2:3210"), External: netip.MustParseAddrPort("11.99.0.11:3210"), Lease: DefaultLease, Gateway: "fake gateway"}
		if !ok || mp != want {
			t.Fatalf("Mapping() = %+v, %v; want %+v", mp, ok, want)
		}
		if got := g.takeCalls(); !slices.Equal(got, []string{"add 3210 192.168.7.2:3210 30m0s"}) {
			t.Errorf("calls = %q", got)
		}
		if got := ev.get(); !slices.Equal(got, []string{"mapped 11.99.0.11:3210"}) {
			t.Errorf("events = %q", got)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if got := g.takeCalls(); !slices.Equal(got, []string{"del 3210"}) {
			t.Errorf("Close made calls %q, want one deletion", got)
		}
		if _, ok := m.Mapping(); ok {
			t.Error("mapping still active after Close")
		}
		if err := m.Close(); err != nil || len(g.takeCalls()) != 0 {
			t.Error("second Close did something")
		}
	})
}

func TestOrderOfAttempts(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(*fakeGateway)
		calls   []string
		mapped  string
		wantErr bool
	}{
		{
			name:   "IGD2 listen port taken: any port",
			setup:  func(g *fakeGateway) { g.anyPort = true; g.refuse[3210] = true },
			calls:  []string{"add 3210", "any"},
			mapped: "11.99.0.11:40000",
		},
		{
			name:  "IGD1 listen port taken: a random port instead of any",
			setup: func(g *fakeGateway) { g.refuse[3210] = true },
			// The five random ports of the list are drawn first (50000-50004).
			calls:  []string{"add 3210", "any", "add 50005"},
			mapped: "11.99.0.11:50005",
		},
		{
			name: "nearby ports",
			setup: func(g *fakeGateway) {
				for _, p := range []uint16{3210, 3211, 3212, 50005} {
					g.refuse[p] = true
				}
			},
			calls:  []string{"add 3210", "any", "add 50005", "add 3211", "add 3212", "add 3213"},
			mapped: "11.99.0.11:3213",
		},
		{
			name:    "everything refused",
			setup:   func(g *fakeGateway) { g.refuseAll = true; g.anyPort = true },
			calls:   []string{"add 3210", "any", "add 3211", "add 3212", "add 3213", "add 3214", "add 50000", "add 50001", "add 50002", "add 50003", "add 50004"},
			wantErr: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g, ev := newFakeGateway(), &events{}
				tc.setup(g)
				core, logs := observer.New(zapcore.DebugLevel)
				m := newTestMapper(g, ev, zap.New(core), 0)
				m.Start(t.Context())
				synctest.Wait()
				var got []string
				for _, c := range g.takeCalls() {
					f := []byte(c)
					// Keep the verb and the port: "add 3210", "any".
					n := 0
					for i, b := range f {
						if b == ' ' {
							n++
							if n == 2 || (n == 1 && c[:3] == "any") {
								f = f[:i]
								break
							}
						}
					}
					got = append(got, string(f))
				}
				if !slices.Equal(got, tc.calls) {
					t.Errorf("calls = %q\nwant    %q", got, tc.calls)
				}
				mp, ok := m.Mapping()
				if tc.wantErr {
					if ok || len(ev.get()) != 0 {
						t.Errorf("mapping %+v active after every port was refused", mp)
					}
					if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
						t.Errorf("%d warnings, want the failure logged once", n)
					}
				} else if !ok || mp.External.String() != tc.mapped {
					t.Errorf("mapping %+v, %v; want %s", mp, ok, tc.mapped)
				}
				m.Close()
			})
		})
	}
}

func TestOnlyPermanentLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, ev := newFakeGateway(), &events{}
		g.onlyPermanent = true
		m := newTestMapper(g, ev, nil, 10*time.Second)
		m.Start(t.Context())
		synctest.Wait()
		if mp, ok := m.Mapping(); !ok || mp.Lease != 0 {
			t.Fatalf("mapping %+v, %v; want a permanent one", mp, ok)
		}
		if got := g.takeCalls(); !slices.Equal(got, []string{"add 3210 192.168.7.2:3210 10s", "add 3210 192.168.7.2:3210 0s"}) {
			t.Errorf("calls = %q", got)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := g.takeCalls(); len(got) != 0 {
			t.Errorf("a permanent mapping was renewed: %q", got)
		}
		m.Close()
	})
}

func TestLeaseRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, ev := newFakeGateway(), &events{}
		m := newTestMapper(g, ev, nil, 4*time.Second)
		m.Start(t.Context())
		synctest.Wait()
		g.takeCalls()
		time.Sleep(1900 * time.Millisecond)
		synctest.Wait()
		if got := g.takeCalls(); len(got) != 0 {
			t.Fatalf("renewed too early: %q", got)
		}
		for i := range 3 {
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if got := g.takeCalls(); !slices.Equal(got, []string{"add 3210 192.168.7.2:3210 4s"}) {
				t.Fatalf("renewal %d: calls %q", i, got)
			}
		}
		if got := ev.get(); len(got) != 1 {
			t.Errorf("renewals reported as new mappings: %q", got)
		}
		m.Close()
	})
}

func TestRenewalFailureMovesAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, ev := newFakeGateway(), &events{}
		core, logs := observer.New(zapcore.DebugLevel)
		g.anyPort = true
		m := newTestMapper(g, ev, zap.New(core), 4*time.Second)
		m.Start(t.Context())
		synctest.Wait()

		// Someone else took the port: the renewal fails and the mapper
		// moves to the next port in VpnCloud's order.
		g.set(func(g *fakeGateway) { g.refuse[3210] = true })
		time.Sleep(2 * time.Second)
		synctest.Wait()
		want := []string{"mapped 11.99.0.11:3210", "unmapped 11.99.0.11:3210", "mapped 11.99.0.11:40000"}
		if got := ev.get(); !slices.Equal(got, want) {
			t.Fatalf("events %q, want %q", got, want)
		}
		if mp, _ := m.Mapping(); mp.External.Port() != 40000 {
			t.Fatalf("mapping %+v", mp)
		}

		// The gateway refuses everything for a while: lost, logged once.
		g.set(func(g *fakeGateway) { g.refuseAll = true })
		for range 5 {
			time.Sleep(2 * time.Second)
			synctest.Wait()
		}
		if _, ok := m.Mapping(); ok {
			t.Error("mapping still active after renewals failed")
		}
		want = append(want, "unmapped 11.99.0.11:40000")
		if got := ev.get(); !slices.Equal(got, want) {
			t.Fatalf("events %q, want %q", got, want)
		}
		if n := logs.FilterMessage("port forwarding: failed to renew").FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
			t.Errorf("%d renewal warnings, want 1", n)
		}

		// It works again: mapped again.
		g.set(func(g *fakeGateway) { g.refuseAll = false })
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if mp, ok := m.Mapping(); !ok || mp.External.Port() != 40000 {
			t.Fatalf("no mapping after the gateway recovered: %+v %v", mp, ok)
		}
		if got := ev.get(); got[len(got)-1] != "mapped 11.99.0.11:40000" {
			t.Errorf("events %q", got)
		}
		m.Close()
	})
}

func TestNoGatewayIsNotFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		ev := &events{}
		start := time.Now()
		var lasted time.Duration
		m := New(Config{
			Port: 3210,
			Discover: func(ctx context.Context) (Gateway, error) {
				<-ctx.Done() // a search that finds nothing lasts the whole timeout
				lasted = time.Since(start)
				return nil, fmt.Errorf("search: %w", ErrNoGateway)
			},
			OnMapped: func(m Mapping) { ev.add("mapped") },
			Log:      zap.New(core),
		})
		m.Start(t.Context())
		time.Sleep(time.Minute)
		synctest.Wait()
		if lasted != DefaultDiscoverTimeout {
			t.Errorf("discovery lasted %v, want the %v bound", lasted, DefaultDiscoverTimeout)
		}
		if _, ok := m.Mapping(); ok || len(ev.get()) != 0 {
			t.Error("a mapping without a gateway")
		}
		if n := logs.FilterMessage("port forwarding: no router found").Len(); n != 1 || logs.Len() != 1 {
			t.Errorf("logs %v, want one line", logs.All())
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestExternalIPFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, ev := newFakeGateway(), &events{}
		g.externalErr = ErrBadExternalIP
		m := newTestMapper(g, ev, nil, 0)
		m.Start(t.Context())
		synctest.Wait()
		if _, ok := m.Mapping(); ok || len(g.takeCalls()) != 0 {
			t.Error("mapped a port without an external address")
		}
		m.Close()
	})
}

func TestCloseDuringDiscoveryAndWithoutStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(Config{Port: 1, Discover: func(ctx context.Context) (Gateway, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}})
		m.Start(context.Background())
		time.Sleep(time.Second)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m.Start(context.Background()) // after Close: no goroutine
		if err := New(Config{Port: 1}).Close(); err != nil {
			t.Fatal(err)
		}
		var off *Mapper
		if err := off.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCancelledContextStopsRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, ev := newFakeGateway(), &events{}
		ctx, cancel := context.WithCancel(context.Background())
		m := newTestMapper(g, ev, nil, 4*time.Second)
		m.Start(ctx)
		synctest.Wait()
		g.takeCalls()
		cancel()
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := g.takeCalls(); len(got) != 0 {
			t.Errorf("calls after cancel: %q", got)
		}
		m.Close()
		if got := g.takeCalls(); !slices.Equal(got, []string{"del 3210"}) {
			t.Errorf("Close after cancel: %q", got)
		}
	})
}

func TestMapperOverSOAP(t *testing.T) {
	f := newFakeIGD(t, "WANIPConnection:1")
	f.taken[3210] = true
	mapped := make(chan Mapping, 1)
	m := New(Config{
		Port:     3210,
		Discover: func(ctx context.Context) (Gateway, error) { return GatewayAt(ctx, f.location(t)) },
		OnMapped: func(mp Mapping) { mapped <- mp },
		Rand:     seq(),
	})
	m.Start(t.Context())
	var mp Mapping
	select {
	case mp = <-mapped:
	case <-time.After(10 * time.Second):
		t.Fatal("no mapping")
	}
	if mp.External != netip.MustParseAddrPort("11.99.0.11:50005") || mp.Internal != netip.MustParseAddrPort("127.0.0.1:3210") {
		t.Fatalf("mapping %+v", mp)
	}
	if e, ok := f.entry(50005); !ok || e.client != "127.0.0.1" || e.port != 3210 || e.lease != 1800 || e.desc != "peercloud" {
		t.Fatalf("router entry %+v, %v", e, ok)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.entry(50005); ok {
		t.Error("Close left the mapping on the router")
	}
}
