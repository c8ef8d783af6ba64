package stats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
)

// Interval is VpnCloud's STATS_INTERVAL.
const Interval = 60 * time.Second

// Config configures a Reporter. Zero values pick the defaults.
type Config struct {
	Source Source
	// File is the stats file path. Default "": no file.
	File string
	// Statsd is the statsd server, host:port. Default "": no statsd.
	Statsd string
	// Prefix of the statsd keys. Default: config.DefaultStatsdPrefix.
	Prefix string
	// Interval between reports. Default: Interval.
	Interval time.Duration
	// PeerTimeout is this node's peer timeout (for the TTLs). Default:
	// config.DefaultPeerTimeout.
	PeerTimeout time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Log receives failures. Default: none.
	Log *zap.Logger
}

// Reporter writes the stats file and sends statsd packets every interval.
// Run it on one goroutine; Report may be called instead for a single round
// (not concurrently with Run).
type Reporter struct {
	cfg  Config
	coll *Collector
}

// NewReporter checks cfg and builds a Reporter. It does no I/O.
func NewReporter(cfg Config) (*Reporter, error) {
	if cfg.Source.Peers == nil || cfg.Source.Data == nil {
		return nil, ErrNoSource
	}
	if cfg.Prefix == "" {
		cfg.Prefix = config.DefaultStatsdPrefix
	}
	if cfg.Interval <= 0 {
		cfg.Interval = Interval
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = config.DefaultPeerTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Reporter{cfg: cfg, coll: NewCollector(cfg.Source, cfg.PeerTimeout, cfg.Interval)}, nil
}

// Run reports every interval until ctx is done. Failures are logged, not
// fatal.
func (r *Reporter) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Report(ctx); err != nil {
				r.cfg.Log.Warn("reporting statistics", zap.Error(err))
			}
		}
	}
}

// Report builds one snapshot and writes and sends it.
func (r *Reporter) Report(ctx context.Context) error {
	s := r.coll.Collect(r.cfg.Now())
	var errs []error
	if r.cfg.File != "" {
		errs = append(errs, WriteFile(r.cfg.File, s))
	}
	if r.cfg.Statsd != "" {
		errs = append(errs, sendStatsd(ctx, r.cfg.Statsd, StatsdPayload(r.cfg.Prefix, s)))
	}
	return errors.Join(errs...)
}

// sendStatsd resolves server afresh (as VpnCloud does) and sends payload
// to its first address.
func sendStatsd(ctx context.Context, server string, payload []byte) error {
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		return fmt.Errorf("stats: statsd server %q: %w", server, err)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("stats: resolving statsd server %q: %w", server, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("stats: %q: %w", server, ErrNoAddress)
	}
	conn, err := net.Dial("udp", net.JoinHostPort(addrs[0].Unmap().String(), port))
	if err != nil {
		return fmt.Errorf("stats: statsd %s: %w", server, err)
	}
	defer conn.Close()
	if _, err := conn.Write(payload); err != nil {
		return fmt.Errorf("stats: sending to statsd %s: %w", server, err)
	}
	return nil
}
