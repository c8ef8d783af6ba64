package portmap

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Defaults for a zero Config.
const (
	// DefaultLease is VpnCloud's lease time, 30 minutes.
	DefaultLease = 1800 * time.Second
	// DefaultDescription names the mapping in the router's list.
	DefaultDescription = "peercloud"
	// DefaultDiscoverTimeout bounds discovery: goupnp's two-second SSDP
	// window plus the device description fetch.
	DefaultDiscoverTimeout = 5 * time.Second
	// callTimeout bounds each SOAP call.
	callTimeout = 5 * time.Second
	// retryAfterFailure is how soon a failed renewal is tried again.
	retryAfterFailure = 60 * time.Second
)

// Config configures a Mapper. Zero values pick the defaults.
type Config struct {
	// Port is the node's UDP listen port, the internal port of the
	// mapping and the first external port asked for. Required.
	Port uint16
	// InternalIP is the internal client address; the zero value means the
	// host's address toward the gateway (Gateway.LocalAddr).
	InternalIP netip.Addr
	// Lease is the lease asked for (default DefaultLease). It is renewed
	// a minute before it ends (halfway for leases of two minutes or less).
	Lease time.Duration
	// Description names the mapping on the router (default
	// DefaultDescription).
	Description string
	// DiscoverTimeout bounds discovery (default DefaultDiscoverTimeout).
	DiscoverTimeout time.Duration
	// Discover finds the gateway (default Discover, the SSDP search).
	Discover func(ctx context.Context) (Gateway, error)
	// OnMapped is called from the Mapper's goroutine when a mapping becomes
	// active, and again with the new one if a failed renewal had to take
	// another port. It must not block for long.
	OnMapped func(Mapping)
	// OnUnmapped is called from the Mapper's goroutine when an active
	// mapping was lost (renewal and re-mapping failed, or it moved to
	// another port). It is not called by Close.
	OnUnmapped func(Mapping)
	// Log receives the Mapper's log lines (default: none).
	Log *zap.Logger
	// Rand picks the random ports to try (default math/rand/v2).
	Rand func() uint16
}

// Mapping is an active port forwarding.
type Mapping struct {
	// Internal is this node's address and port the gateway forwards to.
	Internal netip.AddrPort
	// External is the gateway's external address and the mapped port:
	// what peers outside use to reach this node.
	External netip.AddrPort
	// Lease is the granted lease; 0 means permanent (no renewal).
	Lease time.Duration
	// Gateway names the gateway.
	Gateway string
}

// Mapper obtains and keeps one UDP port forwarding. Start runs it in one
// goroutine; Mapping is safe to call from any goroutine; Close stops the
// goroutine, deletes the mapping and is idempotent.
type Mapper struct {
	cfg Config
	log *zap.Logger

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards the fields below
	gw      Gateway
	current Mapping
	active  bool
	closed  bool
}

// New builds a Mapper. It does no I/O.
func New(cfg Config) *Mapper {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Description == "" {
		cfg.Description = DefaultDescription
	}
	if cfg.DiscoverTimeout <= 0 {
		cfg.DiscoverTimeout = DefaultDiscoverTimeout
	}
	if cfg.Discover == nil {
		cfg.Discover = Discover
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Rand == nil {
		cfg.Rand = func() uint16 { return uint16(rand.UintN(1 << 16)) }
	}
	return &Mapper{cfg: cfg, log: cfg.Log}
}

// Start starts the mapper's goroutine: discover the gateway, map a port,
// renew it until ctx ends or Close is called. Call it at most once.
func (m *Mapper) Start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.done != nil {
		return
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.done = make(chan struct{})
	go m.routineMapAndRenew(ctx)
}

// Mapping returns the active mapping, if there is one.
func (m *Mapper) Mapping() (Mapping, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current, m.active
}

// Close stops the goroutine, waits for it and removes the mapping from the
// gateway (bounded by a few seconds; a failure is logged, not returned as
// fatal). It returns the deletion's error, if any. A nil Mapper (port
// forwarding off) closes without doing anything.
func (m *Mapper) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	cancel, done := m.cancel, m.done
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	m.mu.Lock()
	gw, cur, active := m.gw, m.current, m.active
	m.active = false
	m.mu.Unlock()
	if !active {
		return nil
	}
	ctx, cancelDel := context.WithTimeout(context.Background(), callTimeout)
	defer cancelDel()
	if err := gw.DeletePortMapping(ctx, cur.External.Port()); err != nil {
		m.log.Debug("port forwarding: failed to remove the mapping", zap.Stringer("external", cur.External), zap.Error(err))
		return fmt.Errorf("portmap: removing %s: %w", cur.External, err)
	}
	m.log.Info("port forwarding: removed the mapping", zap.Stringer("external", cur.External))
	return nil
}

// candidatePorts is VpnCloud's order of attempts: the listen port, any
// port (0: the gateway chooses), the four ports above the listen port,
// five random ports. Port 0 never appears except as "any".
func candidatePorts(port uint16, rnd func() uint16) []uint16 {
	out := []uint16{port, 0}
	for i := uint16(1); i < 5; i++ {
		if p := port + i; p != 0 {
			out = append(out, p)
		}
	}
	for len(out) < 11 {
		if p := rnd(); p != 0 {
			out = append(out, p)
		}
	}
	return out
}

// renewIn is when to renew a lease: a minute before it ends, as VpnCloud,
// or halfway through a lease of two minutes or less.
func renewIn(lease time.Duration) time.Duration {
	if lease > 2*time.Minute {
		return lease - time.Minute
	}
	return lease / 2
}

func (m *Mapper) routineMapAndRenew(ctx context.Context) {
	defer close(m.done)
	dctx, cancel := context.WithTimeout(ctx, m.cfg.DiscoverTimeout)
	gw, err := m.cfg.Discover(dctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			m.log.Info("port forwarding: no router found", zap.Error(err))
		}
		return
	}
	m.log.Debug("port forwarding: found router", zap.Stringer("gateway", gw))
	mp, err := m.mapAny(ctx, gw)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("port forwarding: failed to activate", zap.Stringer("gateway", gw), zap.Error(err))
		}
		return
	}
	m.setActive(gw, mp)
	m.log.Info("port forwarding: activated", zap.Stringer("external", mp.External),
		zap.Stringer("internal", mp.Internal), zap.Duration("lease", mp.Lease), zap.Stringer("gateway", gw))
	if m.cfg.OnMapped != nil {
		m.cfg.OnMapped(mp)
	}
	if mp.Lease == 0 {
		<-ctx.Done()
		return
	}
	m.renewLoop(ctx, gw, mp)
}

// renewLoop renews the lease before it ends. A failed renewal is retried;
// if the port cannot be renewed it maps again (perhaps another port) and
// reports the change. The first failure is a warning, the rest debug.
func (m *Mapper) renewLoop(ctx context.Context, gw Gateway, mp Mapping) {
	timer := time.NewTimer(renewIn(mp.Lease))
	defer timer.Stop()
	failing, active := false, true
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next, err := m.renew(ctx, gw, mp, active)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			if !failing {
				m.log.Warn("port forwarding: failed to renew", zap.Stringer("external", mp.External), zap.Error(err))
			} else {
				m.log.Debug("port forwarding: failed to renew", zap.Stringer("external", mp.External), zap.Error(err))
			}
			failing = true
			if active {
				// Renewal and re-mapping both failed: the old one is gone.
				active = false
				m.setInactive()
				if m.cfg.OnUnmapped != nil {
					m.cfg.OnUnmapped(mp)
				}
			}
			timer.Reset(min(retryAfterFailure, renewIn(mp.Lease)))
			continue
		case next.External != mp.External || !active:
			if active && m.cfg.OnUnmapped != nil {
				m.cfg.OnUnmapped(mp)
			}
			mp, active = next, true
			m.setActive(gw, mp)
			m.log.Info("port forwarding: activated", zap.Stringer("external", mp.External), zap.Duration("lease", mp.Lease))
			if m.cfg.OnMapped != nil {
				m.cfg.OnMapped(mp)
			}
		default:
			if failing {
				m.log.Info("port forwarding: renewed again", zap.Stringer("external", mp.External))
			} else {
				m.log.Debug("port forwarding: renewed", zap.Stringer("external", mp.External))
			}
		}
		failing = false
		if mp.Lease == 0 {
			<-ctx.Done()
			return
		}
		timer.Reset(renewIn(mp.Lease))
	}
}

// renew asks for the same external port again (when still active), and if
// that fails maps anew. On failure it returns a zero Mapping.
func (m *Mapper) renew(ctx context.Context, gw Gateway, mp Mapping, active bool) (Mapping, error) {
	var renewErr error
	if active {
		lease, err := m.add(ctx, gw, mp.External.Port(), mp.Internal)
		if err == nil {
			mp.Lease = lease
			return mp, nil
		}
		renewErr = err
	}
	next, err := m.mapAny(ctx, gw)
	if err != nil {
		return Mapping{}, errors.Join(renewErr, err)
	}
	return next, nil
}

// mapAny finds the addresses and tries the ports in VpnCloud's order.
func (m *Mapper) mapAny(ctx context.Context, gw Gateway) (Mapping, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	ext, err := gw.ExternalIP(cctx)
	cancel()
	if err != nil {
		return Mapping{}, fmt.Errorf("external address: %w", err)
	}
	ip := m.cfg.InternalIP
	if !ip.IsValid() || ip.IsUnspecified() {
		ip = gw.LocalAddr()
	}
	if !ip.IsValid() {
		return Mapping{}, ErrNoLocalAddr
	}
	internal := netip.AddrPortFrom(ip, m.cfg.Port)
	var errs []error
	for _, p := range candidatePorts(m.cfg.Port, m.cfg.Rand) {
		if ctx.Err() != nil {
			return Mapping{}, ctx.Err()
		}
		port, lease, err := m.tryPort(ctx, gw, p, internal)
		if err != nil {
			m.log.Debug("port forwarding: port refused", zap.Uint16("port", p), zap.Error(err))
			errs = append(errs, err)
			continue
		}
		return Mapping{Internal: internal, External: netip.AddrPortFrom(ext, port), Lease: lease, Gateway: gw.String()}, nil
	}
	return Mapping{}, fmt.Errorf("%w: %w", ErrNoPort, errors.Join(errs...))
}

// tryPort maps one external port (0: the gateway's choice, else a random
// one when it cannot choose) and returns the port and lease granted.
func (m *Mapper) tryPort(ctx context.Context, gw Gateway, port uint16, internal netip.AddrPort) (uint16, time.Duration, error) {
	if port != 0 {
		lease, err := m.add(ctx, gw, port, internal)
		return port, lease, err
	}
	lease := m.cfg.Lease
	for range 2 {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		got, err := gw.AddAnyPortMapping(cctx, internal, lease, m.cfg.Description)
		cancel()
		switch {
		case err == nil && got != 0:
			return got, lease, nil
		case err == nil:
			return 0, 0, fmt.Errorf("AddAnyPortMapping granted port 0: %w", ErrNoPort)
		case errors.Is(err, ErrOnlyPermanentLeases) && lease != 0:
			lease = 0
		case errors.Is(err, ErrUnsupported):
			// What the igd crate does for IGD version 1: a random port.
			p := m.cfg.Rand()
			for p == 0 {
				p = m.cfg.Rand()
			}
			lease, err := m.add(ctx, gw, p, internal)
			return p, lease, err
		default:
			return 0, 0, err
		}
	}
	return 0, 0, ErrNoPort
}

// add maps one external port with the configured lease, or a permanent
// one when the gateway only supports those.
func (m *Mapper) add(ctx context.Context, gw Gateway, port uint16, internal netip.AddrPort) (time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	err := gw.AddPortMapping(cctx, port, internal, m.cfg.Lease, m.cfg.Description)
	cancel()
	if errors.Is(err, ErrOnlyPermanentLeases) {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err = gw.AddPortMapping(cctx, port, internal, 0, m.cfg.Description)
		cancel()
		return 0, err
	}
	return m.cfg.Lease, err
}

func (m *Mapper) setActive(gw Gateway, mp Mapping) {
	m.mu.Lock()
	m.gw, m.current, m.active = gw, mp, true
	m.mu.Unlock()
}

func (m *Mapper) setInactive() {
	m.mu.Lock()
	m.active = false
	m.mu.Unlock()
}
