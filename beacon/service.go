package beacon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultInterval is VpnCloud's default beacon interval.
const DefaultInterval = 3600 * time.Second

// DefaultTTL is the age VpnCloud accepts when loading beacons (50 hours).
const DefaultTTL = 50 * time.Hour

// StoredAddrs is how many own addresses a stored beacon carries, chosen at
// random each time as VpnCloud does.
const StoredAddrs = 3

// minCommandTimeout bounds how long one command may run when the interval
// is shorter.
const minCommandTimeout = 30 * time.Second

// ServiceConfig configures a Service. Zero values pick VpnCloud's defaults.
type ServiceConfig struct {
	// Store is where this node's beacon goes: a file path or "|command".
	// Default "": not stored.
	Store string
	// Load is where other nodes' beacons come from: a file path or
	// "|command". Default "": not loaded.
	Load string
	// Interval between stores and between loads. Default DefaultInterval.
	Interval time.Duration
	// Password is the beacon password. Default "" (VpnCloud's empty key).
	Password string
	// TTL is the oldest beacon accepted. Default DefaultTTL.
	TTL time.Duration
	// OwnAddrs returns this node's own addresses (called from the
	// service's goroutine; the daemon asks the control goroutine). Required
	// with Store.
	OwnAddrs func(ctx context.Context) ([]netip.AddrPort, error)
	// Connect is given the addresses of each loaded beacon (called from the
	// service's goroutine). Required with Load.
	Connect func(ctx context.Context, addrs []netip.AddrPort) error
	// Now is the clock for the beacons' hour stamps. Default time.Now.
	Now func() time.Time
	// Log receives the service's log lines. Default: none.
	Log *zap.Logger
}

// Service stores and loads beacons every interval. Run runs it; it is not
// otherwise safe for concurrent use.
type Service struct {
	cfg         ServiceConfig
	codec       *Codec
	store, load Target
	warnedEmpty bool
}

// NewService checks cfg. It does no I/O.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	s := &Service{cfg: cfg, codec: New(cfg.Password), store: ParseTarget(cfg.Store), load: ParseTarget(cfg.Load)}
	if !s.store.IsZero() && cfg.OwnAddrs == nil {
		return nil, fmt.Errorf("beacon.NewService: Store without OwnAddrs: %w", ErrConfig)
	}
	if !s.load.IsZero() && cfg.Connect == nil {
		return nil, fmt.Errorf("beacon.NewService: Load without Connect: %w", ErrConfig)
	}
	return s, nil
}

// Codec returns the service's codec.
func (s *Service) Codec() *Codec { return s.codec }

// Run stores and loads at once and then every interval, the two on their
// own goroutines (a slow command delays neither the other nor the
// caller's control plane), until ctx is done. It waits for both, then
// removes the beacon file it stored (as VpnCloud on shutdown) and returns.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if !s.store.IsZero() {
		wg.Go(func() { s.every(ctx, func(ctx context.Context) { s.logErr("storing the beacon", s.Store(ctx)) }) })
	}
	if !s.load.IsZero() {
		wg.Go(func() {
			s.every(ctx, func(ctx context.Context) {
				_, err := s.Load(ctx)
				s.logErr("loading beacons", err)
			})
		})
	}
	wg.Wait()
	if !s.store.IsZero() && !s.store.Command {
		err := os.Remove(s.store.Value)
		if err == nil {
			s.cfg.Log.Info("removed the beacon file", zap.String("path", s.store.Value))
		} else if !errors.Is(err, os.ErrNotExist) {
			s.cfg.Log.Error("removing the beacon file", zap.Error(err))
		}
	}
}

func (s *Service) logErr(what string, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		s.cfg.Log.Warn(what, zap.Error(err))
	}
}

// every runs f now and then every interval until ctx is done; each run
// gets at most max(interval, 30 s).
func (s *Service) every(ctx context.Context, f func(context.Context)) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(s.cfg.Interval, minCommandTimeout))
		f(rctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Store writes this node's beacon once: up to StoredAddrs of the own
// addresses at random.
func (s *Service) Store(ctx context.Context) error {
	own, err := s.cfg.OwnAddrs(ctx)
	if err != nil {
		return fmt.Errorf("beacon: own addresses: %w", err)
	}
	addrs := pick(own, StoredAddrs)
	if len(addrs) == 0 && !s.warnedEmpty {
		s.warnedEmpty = true
		s.cfg.Log.Warn("the beacon carries no address: listen on a specific address or set --advertise-addresses")
	}
	now := s.cfg.Now()
	if s.store.Command {
		err = s.codec.StoreCommand(ctx, s.store.Value, addrs, now)
	} else {
		err = s.codec.WriteFile(s.store.Value, addrs, now)
	}
	if err != nil {
		return err
	}
	s.cfg.Log.Debug("stored the beacon", zap.String("to", s.cfg.Store), zap.Int("addresses", len(addrs)))
	return nil
}

// Load reads the beacons once and hands their addresses to Connect.
func (s *Service) Load(ctx context.Context) ([]netip.AddrPort, error) {
	var (
		peers []netip.AddrPort
		err   error
	)
	now := s.cfg.Now()
	if s.load.Command {
		peers, err = s.codec.LoadCommand(ctx, s.load.Value, now, s.cfg.TTL)
	} else {
		peers, err = s.codec.ReadFile(s.load.Value, now, s.cfg.TTL)
	}
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Debug("loaded beacons", zap.String("from", s.cfg.Load), zap.Int("addresses", len(peers)))
	if err := s.cfg.Connect(ctx, peers); err != nil {
		return peers, fmt.Errorf("beacon: connecting: %w", err)
	}
	return peers, nil
}

// pick returns up to n elements of addrs chosen at random (VpnCloud's
// choose_multiple).
func pick(addrs []netip.AddrPort, n int) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, min(n, len(addrs)))
	for _, i := range rand.Perm(len(addrs))[:min(n, len(addrs))] {
		out = append(out, addrs[i])
	}
	return out
}
