package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/service"
)

// version is the peercloud version, set at build time with
// -ldflags "-X main.version=...".
var version = "v0.1.0-dev"

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the daemon or genkey failed
	exitUsage = 2 // bad flags or configuration
)

// run is the whole command: parse argv, then print help or the version, run
// a subcommand, or build the configuration and the logger and run the
// daemon until ctx is done. It returns the exit status.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer, getenv func(string) string) int {
	inv, err := parseCommandLine(argv, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "peercloud: %v\nRun 'peercloud --help' for the list of options.\n", unwrapUsage(err))
		return exitUsage
	}
	switch {
	case inv.help:
		inv.usage(stdout)
		return exitOK
	case inv.version:
		fmt.Fprintf(stdout, "peercloud %s (VpnCloud 2.3.0 compatible)\n", version)
		return exitOK
	case inv.sub == "completion":
		if err := writeCompletion(stdout, inv.shell); err != nil {
			fmt.Fprintf(stderr, "peercloud: %s\n", unwrapUsage(err))
			return exitUsage
		}
		return exitOK
	case inv.sub == "man":
		if err := writeMan(stdout); err != nil {
			fmt.Fprintf(stderr, "peercloud: %v\n", err)
			return exitFail
		}
		return exitOK
	case inv.sub == "genkey":
		if err := genkey(stdout, inv.genkeyPassword, nil); err != nil {
			fmt.Fprintf(stderr, "peercloud: %v\n", err)
			return exitFail
		}
		return exitOK
	case inv.sub == "status":
		if err := showStatus(ctx, stdout, &inv.status); err != nil {
			fmt.Fprintf(stderr, "peercloud: %v\n", err)
			return exitFail
		}
		return exitOK
	}

	cfg, err := buildConfig(inv)
	if err != nil {
		fmt.Fprintf(stderr, "peercloud: %v\n", err)
		return exitUsage
	}
	ready := service.DaemonChild(getenv)
	if cfg.Daemonize && ready == nil {
		return daemonize(argv, cfg, stdout, stderr)
	}
	level := zap.NewAtomicLevel()
	log, closeLog, err := newLogger(logOptions{
		verbose: cfg.Verbose, quiet: cfg.Quiet, fileLevel: cfg.Peercloud.LogLevel, file: cfg.LogFile,
		out: stdout, journal: getenv("JOURNAL_STREAM") != "", level: &level,
	})
	if err != nil {
		fmt.Fprintf(stderr, "peercloud: %v\n", err)
		ready.Fail(err)
		return exitFail
	}
	defer closeLog()
	if inv.configFile != "" {
		log.Info("read config file", zap.String("path", inv.configFile))
	}
	if err := runService(ctx, inv, cfg, log, &level, ready); err != nil {
		log.Error("peercloud stopped", zap.Error(err))
		return exitFail
	}
	return exitOK
}

// buildConfig merges defaults <- config file <- flags and validates.
func buildConfig(inv *invocation) (*config.Config, error) {
	cfg := config.Default()
	if inv.configFile != "" {
		f, err := config.LoadFile(inv.configFile)
		if err != nil {
			return nil, err
		}
		cfg.MergeFile(f)
	}
	cfg.MergeArgs(&inv.args)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func unwrapUsage(err error) string {
	msg := err.Error()
	if errors.Is(err, errUsage) {
		msg = msg[len(errUsage.Error())+2:]
	}
	return msg
}
