package main

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
)

// errNotWired is returned until the control package is connected here.
var errNotWired = errors.New("daemon not wired yet")

// runDaemon runs the VPN with a validated cfg until ctx is cancelled (SIGINT
// or SIGTERM) or a fatal error occurs. It is the single entry point from the
// CLI into the daemon (package control).
func runDaemon(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	_, _, _ = ctx, cfg, log
	return errNotWired
}
