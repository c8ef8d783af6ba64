package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/wire"
)

// Options are the system integration's hooks into a running node (the
// command line sets them; Run uses none).
type Options struct {
	// Setup runs once the device is configured and the socket is open, and
	// before the node starts: the place for the rp_filter check and the
	// privilege drop. It returns how to run work that still needs
	// privileges after that (kernel route changes); nil runs it inline.
	Setup func(ifname string) (privileged func(func()), err error)
	// Started is called once the node runs, with the handle to reload it
	// and to check that its control goroutine is alive.
	Started func(*Handle)
}

// Handle is a running node as the service side sees it. Its methods are
// safe for concurrent use; they fail once the node has stopped (the
// context given to them ends first).
type Handle struct {
	node   *control.Node
	ifname string
	tap    bool
	log    *zap.Logger

	hooks *hookSource // nil: hook changes are only reported

	mu  sync.Mutex
	cfg *config.Config // the configuration in effect
}

// hookSource gives the hook runner the scripts of the configuration in
// effect; Reload swaps it. Safe for concurrent use.
type hookSource struct{ cfg atomic.Pointer[config.Config] }

func newHookSource(cfg *config.Config) *hookSource {
	h := &hookSource{}
	h.cfg.Store(cfg)
	return h
}

func (h *hookSource) script(event string) string { return h.cfg.Load().HookFor(event) }

// Ifname is the name of the device.
func (h *Handle) Ifname() string { return h.ifname }

// Alive checks that the control goroutine still answers.
func (h *Handle) Alive(ctx context.Context) error {
	return h.node.Do(ctx, func(*control.Node) {})
}

// Peers returns the number of established peers.
func (h *Handle) Peers(ctx context.Context) (int, error) {
	var n int
	err := h.node.Do(ctx, func(c *control.Node) { n = len(c.Status()) })
	return n, err
}

// Config returns the configuration in effect (do not modify it).
func (h *Handle) Config() *config.Config {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cfg
}

// Reload applies what can change without a restart from next, a validated
// configuration: trusted keys, configured peers, claims and hooks. Other
// differences are reported as needing a restart and left alone. It returns
// one line per change (empty: nothing changed). If next is unusable
// nothing is applied and the running configuration stays.
func (h *Handle) Reload(ctx context.Context, next *config.Config) (changes, restart []string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.cfg
	keys, err := parseTrusted(next.Crypto.TrustedKeys)
	if err != nil {
		return nil, nil, err
	}
	peers, err := next.PeerAddresses()
	if err != nil {
		return nil, nil, err
	}
	claims, err := ownClaims(next, h.tap)
	if err != nil {
		return nil, nil, err
	}
	oldClaims, _ := ownClaims(cur, h.tap) // cur was accepted before
	restart = needsRestart(cur, next)

	var apply []func(*control.Node)
	if added, removed := diff(cur.Crypto.TrustedKeys, next.Crypto.TrustedKeys); len(added)+len(removed) > 0 {
		changes = append(changes, describe("trusted keys", added, removed))
		apply = append(apply, func(n *control.Node) {
			if k := n.SetTrusted(keys); k > 0 {
				changes = append(changes, fmt.Sprintf("disconnected %d peer(s) whose key is no longer trusted", k))
			}
		})
	}
	if added, removed := diff(cur.Peers, next.Peers); len(added)+len(removed) > 0 {
		changes = append(changes, describe("peers", added, removed))
		apply = append(apply, func(n *control.Node) { n.SetPeers(peers) })
	}
	if !slices.Equal(oldClaims, claims) {
		added, removed := diff(rangeStrings(oldClaims), rangeStrings(claims))
		changes = append(changes, describe("claims", added, removed))
		apply = append(apply, func(n *control.Node) { n.SetClaims(claims) })
	}
	hooksChanged := cur.Hook != next.Hook || !maps.Equal(cur.Hooks, next.Hooks)
	if hooksChanged {
		changes = append(changes, "hooks changed")
	}
	if len(apply) > 0 {
		if err := h.node.Do(ctx, func(n *control.Node) {
			for _, f := range apply {
				f(n)
			}
		}); err != nil {
			return nil, restart, fmt.Errorf("applying the configuration: %w", err)
		}
	}
	// Fields that need a restart keep their running values.
	kept := *next
	keepRunning(&kept, cur)
	h.cfg = &kept
	if hooksChanged && h.hooks != nil {
		h.hooks.cfg.Store(&kept)
	}
	return changes, restart, nil
}

func parseTrusted(ss []string) ([]handshake.PublicKey, error) {
	keys := make([]handshake.PublicKey, 0, len(ss))
	for _, s := range ss {
		k, err := handshake.ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("crypto.trusted-keys: %q: %w", s, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ownClaims are the configured claims plus, on a TUN device with an
// address and auto-claim on, that address (as Run computes them).
func ownClaims(cfg *config.Config, tap bool) ([]wire.Range, error) {
	out := make([]wire.Range, 0, len(cfg.Claims)+1)
	for _, s := range cfg.Claims {
		r, err := wire.ParseRange(s)
		if err != nil {
			return nil, fmt.Errorf("claims: %q: %w", s, err)
		}
		out = append(out, r)
	}
	if cfg.IP != "" && !tap && cfg.AutoClaim {
		p, err := config.ParseDeviceIP(cfg.IP)
		if err != nil {
			return nil, fmt.Errorf("ip: %w", err)
		}
		out = append(out, wire.Range{Base: wire.AddressFromIP(p.Addr()), PrefixLen: 32})
	}
	return out, nil
}

func rangeStrings(rs []wire.Range) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func diff(old, new []string) (added, removed []string) {
	for _, s := range new {
		if !slices.Contains(old, s) && !slices.Contains(added, s) {
			added = append(added, s)
		}
	}
	for _, s := range old {
		if !slices.Contains(new, s) && !slices.Contains(removed, s) {
			removed = append(removed, s)
		}
	}
	return added, removed
}

func describe(what string, added, removed []string) string {
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	if len(parts) == 0 {
		return what + " reordered"
	}
	return what + ": " + strings.Join(parts, "; ")
}

// needsRestart names the settings that differ between cur and next but
// cannot change in a running node.
func needsRestart(cur, next *config.Config) []string {
	var out []string
	check := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	check("device", cur.Device != next.Device)
	check("ip", cur.IP != next.IP)
	check("listen", cur.Listen != next.Listen)
	check("crypto (identity or algorithms)", cur.Crypto.Password != next.Crypto.Password ||
		cur.Crypto.PrivateKey != next.Crypto.PrivateKey || cur.Crypto.PublicKey != next.Crypto.PublicKey ||
		!slices.Equal(cur.Crypto.Algorithms, next.Crypto.Algorithms))
	check("mode", cur.Mode != next.Mode)
	check("peer-timeout", cur.PeerTimeout != next.PeerTimeout)
	check("keepalive", cur.Keepalive != next.Keepalive)
	check("switch-timeout", cur.SwitchTimeout != next.SwitchTimeout)
	check("advertise-addresses", !slices.Equal(cur.AdvertiseAddresses, next.AdvertiseAddresses))
	check("ifup/ifdown", cur.Ifup != next.Ifup || cur.Ifdown != next.Ifdown)
	check("beacon", cur.Beacon != next.Beacon)
	check("port-forwarding", cur.PortForwarding != next.PortForwarding)
	check("user/group", cur.User != next.User || cur.Group != next.Group)
	check("stats/statsd", cur.StatsFile != next.StatsFile || cur.Statsd != next.Statsd)
	check("log-file", cur.LogFile != next.LogFile)
	check("peercloud", cur.Peercloud != next.Peercloud)
	return out
}

// keepRunning copies into next the settings of cur a reload cannot change.
func keepRunning(next, cur *config.Config) {
	next.Device, next.IP, next.Listen = cur.Device, cur.IP, cur.Listen
	next.Crypto.Password, next.Crypto.PrivateKey, next.Crypto.PublicKey = cur.Crypto.Password, cur.Crypto.PrivateKey, cur.Crypto.PublicKey
	next.Crypto.Algorithms = cur.Crypto.Algorithms
	next.Mode, next.PeerTimeout, next.Keepalive, next.SwitchTimeout = cur.Mode, cur.PeerTimeout, cur.Keepalive, cur.SwitchTimeout
	next.AdvertiseAddresses, next.Ifup, next.Ifdown = cur.AdvertiseAddresses, cur.Ifup, cur.Ifdown
	next.Beacon, next.PortForwarding, next.User, next.Group = cur.Beacon, cur.PortForwarding, cur.User, cur.Group
	next.StatsFile, next.Statsd, next.LogFile, next.Peercloud = cur.StatsFile, cur.Statsd, cur.LogFile, cur.Peercloud
	next.Daemonize, next.PIDFile = cur.Daemonize, cur.PIDFile
}
