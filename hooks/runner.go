package hooks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/control"
)

// Event names, as VpnCloud's.
const (
	DeviceSetup      = "device_setup"
	DeviceConfigured = "device_configured"
	VPNStarted       = "vpn_started"
	VPNShutdown      = "vpn_shutdown"
	PeerConnecting   = control.EventPeerConnecting
	PeerConnected    = control.EventPeerConnected
	PeerDisconnected = control.EventPeerDisconnected
)

// Defaults of Config.
const (
	DefaultQueue   = 64
	DefaultTimeout = 30 * time.Second
	// maxOutput bounds the output kept (and logged) of one script run.
	maxOutput = 16 << 10
)

// Config configures a Runner. Zero values pick the defaults.
type Config struct {
	// Script returns the script for an event, "" for none. Default: none
	// (every Fire is a no-op).
	Script func(event string) string
	// Queue is the number of events that may wait for the worker
	// (default DefaultQueue).
	Queue int
	// Timeout after which a script is killed (default DefaultTimeout).
	Timeout time.Duration
	// Environ is the base environment of every script (default
	// os.Environ() at New).
	Environ []string
	// Log receives failures (warn) and outputs (debug). Default: none.
	Log *zap.Logger
}

// FromConfig returns the Config for cfg's hook and hooks settings: the
// per-event script when one is set, else the general hook.
func FromConfig(cfg *config.Config, log *zap.Logger) Config {
	return Config{Script: cfg.HookFor, Log: log}
}

// Runner runs hook scripts on its own worker goroutine.
//
// Concurrency: Fire, PeerEvent, SetIfName and the counters are safe for
// concurrent use. Close waits for the queued and running scripts (each
// bounded by the timeout) and stops the worker; Fire after Close is a no-op
// that returns false.
type Runner struct {
	cfg    Config
	ifname atomic.Pointer[string]

	mu     sync.RWMutex // guards closed against the close of queue
	closed bool
	queue  chan job

	done chan struct{}

	ran, failed, dropped atomic.Uint64
}

type job struct {
	event string
	env   []string
}

// New builds a Runner and starts its worker.
func New(cfg Config) *Runner {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Environ == nil {
		cfg.Environ = os.Environ()
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Script == nil {
		cfg.Script = func(string) string { return "" }
	}
	r := &Runner{cfg: cfg, queue: make(chan job, cfg.Queue), done: make(chan struct{})}
	go r.worker()
	return r
}

// SetIfName sets the IFNAME every later event carries (unless its own
// variables name one).
func (r *Runner) SetIfName(name string) { r.ifname.Store(&name) }

// Fire queues the script for event with the extra variables env (EVENT and
// IFNAME are added). It never blocks: it returns false when there is no
// script for the event, the queue is full (the event is dropped and
// counted) or the Runner is closed.
func (r *Runner) Fire(event string, env map[string]string) bool {
	if r.cfg.Script(event) == "" {
		return false
	}
	vars := make([]string, 0, len(env)+2)
	if _, ok := env["IFNAME"]; !ok {
		if p := r.ifname.Load(); p != nil {
			vars = append(vars, "IFNAME="+*p)
		}
	}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	vars = append(vars, "EVENT="+event)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return false
	}
	select {
	case r.queue <- job{event: event, env: vars}:
		return true
	default:
		r.dropped.Add(1)
		r.cfg.Log.Warn("hook queue full, event dropped", zap.String("event", event), zap.Int("queue", cap(r.queue)))
		return false
	}
}

// PeerEvent fires the hook for a control-plane peer event with VpnCloud's
// variables: PEER always, NODE_ID when known, CLAIMS (space-separated) on
// peer_connected, and peercloud's REASON on peer_disconnected. It has the
// signature of control.Config.Events.
func (r *Runner) PeerEvent(ev control.Event) {
	env := map[string]string{"PEER": niceAddr(ev.Peer)}
	if ev.NodeID != "" {
		env["NODE_ID"] = ev.NodeID
	}
	if ev.Kind == control.EventPeerConnected {
		env["CLAIMS"] = strings.Join(ev.Claims, " ")
	}
	if ev.Reason != "" {
		env["REASON"] = ev.Reason
	}
	r.Fire(ev.Kind, env)
}

// niceAddr formats addr as VpnCloud's addr_nice: IPv4-mapped IPv6
// addresses as plain IPv4.
func niceAddr(addr netip.AddrPort) string {
	if !addr.IsValid() {
		return ""
	}
	return netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()).String()
}

// Ran, Failed and Dropped count scripts that ran (successfully or not),
// those that failed, and events dropped because the queue was full.
func (r *Runner) Ran() uint64     { return r.ran.Load() }
func (r *Runner) Failed() uint64  { return r.failed.Load() }
func (r *Runner) Dropped() uint64 { return r.dropped.Load() }

// Close stops accepting events, waits until the queued and running scripts
// are done, and stops the worker. It is idempotent and always returns nil.
func (r *Runner) Close() error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	<-r.done
	return nil
}

// worker runs the queued scripts one after the other.
func (r *Runner) worker() {
	defer close(r.done)
	for j := range r.queue {
		script := r.cfg.Script(j.event)
		out, err := r.run(script, j.env)
		r.ran.Add(1)
		if err != nil {
			r.failed.Add(1)
			r.cfg.Log.Warn("hook failed", zap.String("event", j.event), zap.String("script", script),
				zap.Error(err), zap.ByteString("output", out))
			continue
		}
		r.cfg.Log.Debug("hook ran", zap.String("event", j.event), zap.ByteString("output", out))
	}
}

// run runs script with sh -c in its own process group, killing the group
// at the timeout.
func (r *Runner) run(script string, vars []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(append(make([]string, 0, len(r.cfg.Environ)+len(vars)), r.cfg.Environ...), vars...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The script's children share its process group; kill them all so
		// none keeps the output pipe open.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second
	out := &limitedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return out.b, fmt.Errorf("hooks: %q: %w after %v", script, ErrTimeout, r.cfg.Timeout)
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.b, fmt.Errorf("hooks: %q: %w: %w", script, ErrFailed, err)
		}
		return out.b, fmt.Errorf("hooks: starting %q: %w", script, err)
	}
	return out.b, nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
