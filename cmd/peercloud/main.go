// Command peercloud is the peer-to-peer mesh VPN daemon. It is started the
// way VpnCloud 2.3.0 is (same flags, same config file) and owns only the
// command line: parsing, building the config and the logger, and calling
// runDaemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile(os.Getenv)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stopProfile()
	stop()
	os.Exit(code)
}
