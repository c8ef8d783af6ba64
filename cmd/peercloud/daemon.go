package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/daemon"
)

// runDaemon runs the VPN with a validated cfg until ctx is cancelled (SIGINT
// or SIGTERM) or a fatal error occurs. It is the single entry point from the
// CLI into the daemon.
func runDaemon(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	return daemon.Run(ctx, cfg, log)
}
