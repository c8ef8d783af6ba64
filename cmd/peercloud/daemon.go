package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/daemon"
)

// runDaemon runs the VPN with a validated cfg until ctx is cancelled (SIGINT
// or SIGTERM) or a fatal error occurs, with the system integration's hooks
// (system.go). It is the single entry point from the CLI into the daemon.
func runDaemon(ctx context.Context, cfg *config.Config, log *zap.Logger, opts daemon.Options) error {
	return daemon.RunWith(ctx, cfg, log, opts)
}
