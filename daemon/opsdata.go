package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/hooks"
	"github.com/peercloud/peercloud/metrics"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/stats"
	"github.com/peercloud/peercloud/status"
)

// opsData is the node's operations data: the control socket for
// `peercloud status`, the stats file and statsd reporter, and the metrics
// endpoint. The sockets are opened by startOpsData while the process is
// still privileged; attach connects them to the node once it exists, and
// close stops them all.
type opsData struct {
	cfg     *config.Config
	log     *zap.Logger
	hooks   *hooks.Runner
	started time.Time
	report  status.Report // the static part of the status report

	node atomic.Pointer[control.Node]
	pl   atomic.Pointer[pipeline.Pipeline]

	status  *status.Server
	metrics *metrics.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startOpsData opens the control socket and the metrics endpoint (when
// configured). Until attach, status requests fail and metrics are empty.
func startOpsData(cfg *config.Config, log *zap.Logger, ifname string, listen netip.AddrPort, pub string, hk *hooks.Runner) (*opsData, error) {
	o := &opsData{cfg: cfg, log: log, hooks: hk, started: time.Now()}
	o.report = status.Report{Device: ifname, Listen: listen.String(), PublicKey: pub, PID: os.Getpid(), Started: o.started,
		Mode: cfg.Mode.Effective(cfg.Device.Type).String()}
	gid := -1
	if cfg.Group != "" {
		g, err := user.LookupGroup(cfg.Group)
		if err != nil {
			return nil, fmt.Errorf("control socket group: %w", err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return nil, fmt.Errorf("control socket group %q: %w", cfg.Group, err)
		}
	}
	// The control socket is an aid, not a duty: without it the VPN runs.
	srv, err := status.Listen(status.DefaultPath(ifname), gid, o.statusReport, log.Named("status"))
	if err != nil {
		log.Warn("no control socket: `peercloud status` will not reach this daemon", zap.Error(err))
	} else {
		o.status = srv
		log.Info("control socket", zap.String("path", srv.Path()))
	}
	return o, nil
}

// statsIntervalEnv overrides stats.Interval (whole seconds): a knob for
// tests and debugging, VpnCloud has none.
const statsIntervalEnv = "PEERCLOUD_STATS_INTERVAL"

// attach connects the running node, starts the metrics endpoint (when
// configured) and the stats reporter (when a stats file or statsd server
// is configured).
func (o *opsData) attach(ctx context.Context, node *control.Node, pl *pipeline.Pipeline) error {
	o.node.Store(node)
	o.pl.Store(pl)
	src := stats.Source{Peers: o.peers, Data: pl.Counters.Values, Control: &node.Counters}
	if o.cfg.Peercloud.MetricsListen != "" {
		m, err := metrics.Serve(o.cfg.Peercloud.MetricsListen,
			metrics.Source{Source: src, Rings: pl.Rings, HooksDropped: o.hooks.Dropped}, o.log.Named("metrics"))
		if err != nil {
			return err
		}
		o.metrics = m
	}
	if o.cfg.StatsFile == "" && o.cfg.Statsd.Server == "" {
		return nil
	}
	var interval time.Duration
	if s := os.Getenv(statsIntervalEnv); s != "" {
		secs, err := strconv.Atoi(s)
		if err != nil || secs <= 0 {
			return fmt.Errorf("%s=%q: not a positive number of seconds", statsIntervalEnv, s)
		}
		interval = time.Duration(secs) * time.Second
	}
	src.Peers = o.livePeers
	rep, err := stats.NewReporter(stats.Config{
		Source: src, File: o.cfg.StatsFile, Statsd: o.cfg.Statsd.Server, Prefix: o.cfg.StatsdPrefix(),
		Interval: interval, PeerTimeout: o.cfg.PeerTimeout, Log: o.log.Named("stats"),
	})
	if err != nil {
		return err
	}
	ctx, o.cancel = context.WithCancel(ctx)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		rep.Run(ctx)
	}()
	return nil
}

// close stops the reporter and the servers.
func (o *opsData) close() {
	if o.cancel != nil {
		o.cancel()
	}
	o.wg.Wait()
	if o.metrics != nil {
		if err := o.metrics.Close(); err != nil {
			o.log.Debug("closing the metrics server", zap.Error(err))
		}
	}
	if o.status == nil {
		return
	}
	if err := o.status.Close(); err != nil {
		o.log.Warn("closing the control socket", zap.Error(err))
	}
}

func (o *opsData) statusReport(ctx context.Context) (*status.Report, error) {
	node, pl := o.node.Load(), o.pl.Load()
	if node == nil || pl == nil {
		return nil, fmt.Errorf("the node is still starting")
	}
	var st []control.PeerStatus
	if err := node.Do(ctx, func(n *control.Node) { st = n.Status() }); err != nil {
		return nil, fmt.Errorf("asking the control plane: %w", err)
	}
	r := o.report
	r.Peers = status.PeersFrom(st)
	r.Counters = pl.Counters.Values()
	r.Drops = status.DropMap(r.Counters)
	c := &node.Counters
	r.Control = stats.ControlValues{Connected: c.Connected.Load(), Disconnected: c.Disconnected.Load(),
		TimedOut: c.TimedOut.Load(), Invalid: c.Invalid.Load(), Stale: c.Stale.Load(), SendFailed: c.SendFailed.Load()}
	return &r, nil
}

// peers is the last published peer list (lock-free, for scrapes).
func (o *opsData) peers() []control.PeerStatus {
	if n := o.node.Load(); n != nil {
		return n.Peers()
	}
	return nil
}

// livePeers asks the control goroutine for fresh last-contact times,
// falling back to the published list when it is busy.
func (o *opsData) livePeers() []control.PeerStatus {
	n := o.node.Load()
	if n == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var st []control.PeerStatus
	if err := n.Do(ctx, func(n *control.Node) { st = n.Status() }); err != nil {
		return n.Peers()
	}
	return st
}
