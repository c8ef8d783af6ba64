package daemon

import (
	"context"
	"net/netip"
	"sync"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/beacon"
	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/control"
)

// startBeacons runs the beacon service of cfg.Beacon (when a store or a
// load is configured) on its own goroutine: every interval it stores three
// random own addresses and connects to the addresses of the loaded
// beacons, reaching the control goroutine only through node.Do, so a slow
// file system or command never blocks the control plane. The returned stop
// cancels it, waits for it and thereby removes the stored beacon file (as
// VpnCloud on shutdown); call it once node.Run has returned.
func startBeacons(ctx context.Context, cfg config.Beacon, node *control.Node, log *zap.Logger) func() {
	if cfg.Store == "" && cfg.Load == "" {
		return func() {}
	}
	log = log.Named("beacon")
	svc, err := beacon.NewService(beacon.ServiceConfig{
		Store:    cfg.Store,
		Load:     cfg.Load,
		Interval: cfg.Interval,
		Password: cfg.Password,
		OwnAddrs: func(ctx context.Context) ([]netip.AddrPort, error) {
			var own []netip.AddrPort
			err := node.Do(ctx, func(n *control.Node) { own = n.OwnAddrs() })
			return own, err
		},
		Connect: func(ctx context.Context, addrs []netip.AddrPort) error {
			var started int
			err := node.Do(ctx, func(n *control.Node) { started = n.ConnectAddrs(addrs) })
			if err == nil && started > 0 {
				log.Info("connecting to addresses from a beacon", zap.Int("handshakes", started), zap.Int("addresses", len(addrs)))
			}
			return err
		},
		Log: log,
	})
	if err != nil { // cannot happen: both callbacks are set
		log.Error("beacons disabled", zap.Error(err))
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { svc.Run(ctx) })
	log.Info("beacons", zap.String("store", cfg.Store), zap.String("load", cfg.Load), zap.Duration("interval", cfg.Interval))
	return func() {
		cancel()
		wg.Wait()
	}
}
