package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/daemon"
	"github.com/peercloud/peercloud/service"
)

// system is the running daemon's side towards the operating system: the
// service manager (readiness, status, watchdog, stopping), the parent of a
// --daemon child, the privilege drop, rp_filter, and SIGHUP reloads.
type system struct {
	log    *zap.Logger
	level  *zap.AtomicLevel
	notify *service.Notifier
	ready  *service.Readiness // nil unless this is a --daemon child
	creds  *service.Credentials
	// reload re-reads the config file with the original flags.
	reload func() (*config.Config, error)
	hup    chan os.Signal
	// reloaded, when set, is told about every reload (tests).
	reloaded func(changes []string, err error)
}

// statusEvery is how often the status line for systemctl status is renewed.
const statusEvery = 10 * time.Second

func newSystem(log *zap.Logger, level *zap.AtomicLevel, cfg *config.Config, ready *service.Readiness, reload func() (*config.Config, error)) (*system, error) {
	s := &system{log: log, level: level, notify: service.NewNotifier(log), ready: ready, reload: reload}
	if cfg.User != "" || cfg.Group != "" {
		c, err := service.LookupCredentials(cfg.User, cfg.Group)
		if err != nil {
			return nil, err
		}
		s.creds = &c
	}
	// Catch SIGHUP from the start: its default action would end the daemon.
	s.hup = make(chan os.Signal, 1)
	signal.Notify(s.hup, syscall.SIGHUP)
	return s, nil
}

func (s *system) stop() { signal.Stop(s.hup) }

// options are the daemon's hooks: Setup checks rp_filter and drops
// privileges, Started reports readiness and starts the watchdog, the status
// line and the reload loop (all end with ctx).
func (s *system) options(ctx context.Context, cfg *config.Config) daemon.Options {
	return daemon.Options{
		Setup: func(ifname string) (func(func()), error) {
			rp := service.RPFilter{Dir: service.RPFilterDir, Log: s.log}
			if cfg.Device.FixRPFilter {
				if err := rp.Fix(ifname); err != nil {
					return nil, fmt.Errorf("failed to change rp_filter settings: %w", err)
				}
			}
			rp.Check(ifname)
			if s.creds == nil {
				return nil, nil
			}
			pt, err := service.Drop(*s.creds, service.CapNetAdmin)
			if err != nil {
				return nil, err
			}
			s.log.Info("dropped privileges", zap.String("user", cfg.User), zap.String("group", cfg.Group),
				zap.Int("uid", os.Getuid()), zap.Int("gid", os.Getgid()),
				zap.String("kept", "CAP_NET_ADMIN on the route thread"))
			context.AfterFunc(ctx, pt.Close)
			return func(f func()) {
				if err := pt.Do(f); err != nil {
					s.log.Warn("privileged operation skipped", zap.Error(err))
				}
			}, nil
		},
		Started: func(h *daemon.Handle) {
			s.notify.Ready(s.status(ctx, h))
			s.ready.Ready()
			go s.notify.Watchdog(ctx, h.Alive)
			go s.loop(ctx, h)
		},
	}
}

func (s *system) status(ctx context.Context, h *daemon.Handle) string {
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	n, err := h.Peers(qctx)
	if err != nil {
		return "running on " + h.Ifname()
	}
	return fmt.Sprintf("running on %s, %d peer(s) connected", h.Ifname(), n)
}

// loop renews the status line and serves SIGHUP until ctx ends.
func (s *system) loop(ctx context.Context, h *daemon.Handle) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.notify.Stopping()
			return
		case <-t.C:
			s.notify.Status(s.status(ctx, h))
		case <-s.hup:
			s.notify.Reloading()
			changes, err := s.doReload(ctx, h)
			if s.reloaded != nil {
				s.reloaded(changes, err)
			}
			s.notify.Ready(s.status(ctx, h))
		}
	}
}

// doReload is one SIGHUP: re-read, validate, apply what can change at run
// time and log it; a bad file is refused and the running configuration
// kept.
func (s *system) doReload(ctx context.Context, h *daemon.Handle) ([]string, error) {
	s.log.Info("SIGHUP: reloading the configuration")
	next, err := s.reload()
	if err != nil {
		s.log.Error("configuration reload refused, keeping the running configuration", zap.Error(err))
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	changes, restart, err := h.Reload(rctx, next)
	if err != nil {
		s.log.Error("configuration reload refused, keeping the running configuration", zap.Error(err))
		return nil, err
	}
	if lv := levelFor(next.Verbose, next.Quiet, next.Peercloud.LogLevel); lv != s.level.Level() {
		changes = append(changes, fmt.Sprintf("log level: %s -> %s", s.level.Level(), lv))
		s.level.SetLevel(lv)
	}
	for _, c := range changes {
		s.log.Info("reload: " + c)
	}
	if len(restart) > 0 {
		s.log.Warn("reload: these settings changed but need a restart; the running values stay", zap.Strings("settings", restart))
	}
	s.log.Info("configuration reloaded", zap.Int("changes", len(changes)))
	return changes, nil
}

// runService runs the daemon with the system integration: a --daemon child
// reports readiness or failure to its parent, SIGHUP re-reads the config
// file with the original flags.
func runService(ctx context.Context, inv *invocation, cfg *config.Config, log *zap.Logger, level *zap.AtomicLevel, ready *service.Readiness) error {
	sys, err := newSystem(log, level, cfg, ready, func() (*config.Config, error) {
		if inv.configFile == "" {
			return nil, errNoConfigFile
		}
		return buildConfig(inv)
	})
	if err != nil {
		ready.Fail(err)
		return err
	}
	defer sys.stop()
	if err := runDaemon(ctx, cfg, log, sys.options(ctx, cfg)); err != nil {
		ready.Fail(err)
		return err
	}
	return nil
}

// errNoConfigFile: SIGHUP without --config has nothing to re-read.
var errNoConfigFile = errors.New("no --config file to re-read")

// daemonize is the parent side of --daemon: start the detached child, wait
// for it to be ready, write the pid file, exit.
func daemonize(argv []string, cfg *config.Config, stdout, stderr io.Writer) int {
	owner := service.Credentials{UID: -1, GID: -1}
	if cfg.User != "" || cfg.Group != "" {
		c, err := service.LookupCredentials(cfg.User, cfg.Group)
		if err != nil {
			fmt.Fprintf(stderr, "peercloud: %v\n", err)
			return exitUsage
		}
		owner = c
	}
	pid, err := service.Daemonize(service.DaemonOptions{Args: argv, PIDFile: cfg.PIDFile, Owner: owner})
	if err != nil {
		fmt.Fprintf(stderr, "peercloud: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "peercloud: running as a daemon, pid %d\n", pid)
	return exitOK
}
