package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Validate checks the whole configuration for running the daemon and
// returns every problem found (errors.Join of *Error values, each naming its
// key and, when known, the line or flag it came from), or nil. After a nil
// result the Parse helpers and Config methods succeed on c.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, sentinel error, format string, args ...any) {
		errs = append(errs, c.errAt(key, sentinel, format, args...))
	}
	wrap := func(key string, err error) {
		if err != nil {
			errs = append(errs, c.errAt(key, sentinelOf(err), "%s", trimSentinel(err)))
		}
	}

	// device
	if c.Device.Type != DeviceTUN && c.Device.Type != DeviceTAP {
		bad("device.type", ErrInvalidValue, "%v is not tun or tap", c.Device.Type)
	}
	wrap("device.name", checkDeviceName(c.Device.Name))
	if c.IP != "" {
		_, err := ParseDeviceIP(c.IP)
		wrap("ip", err)
	}
	listen, err := ParseListen(c.Listen, DefaultPort)
	wrap("listen", err)
	for i, a := range c.AdvertiseAddresses {
		_, err := ParseListen(a, listen.Port())
		wrap(fmt.Sprintf("advertise-addresses[%d]", i), err)
	}

	// crypto
	c.validateCrypto(bad, wrap)

	// peers and timing
	for i, p := range c.Peers {
		_, err := PeerAddress(p)
		wrap(fmt.Sprintf("peers[%d]", i), err)
	}
	secs := func(key string, d time.Duration, min time.Duration) {
		if d < min {
			bad(key, ErrInvalidValue, "must be at least %d second(s)", min/time.Second)
		}
	}
	secs("peer-timeout", c.PeerTimeout, 2*time.Second)
	if c.PeerTimeout > 65535*time.Second {
		bad("peer-timeout", ErrInvalidValue, "must be at most 65535 seconds")
	}
	if _, set := c.where["keepalive"]; set && c.Keepalive == 0 {
		bad("keepalive", ErrInvalidValue, "must be at least 1 second (leave it unset for peer-timeout/2-60)")
	}
	if c.Keepalive > 0 && c.PeerTimeout >= 2*time.Second && c.Keepalive >= c.PeerTimeout {
		bad("keepalive", ErrConflict, "%d s must be shorter than peer-timeout (%d s), or peers time out between keepalives",
			c.Keepalive/time.Second, c.PeerTimeout/time.Second)
	}
	secs("switch-timeout", c.SwitchTimeout, time.Second)
	secs("beacon.interval", c.Beacon.Interval, time.Second)
	for _, k := range []struct {
		key string
		val string
	}{{"beacon.store", c.Beacon.Store}, {"beacon.load", c.Beacon.Load}} {
		if k.val == "|" {
			bad(k.key, ErrInvalidValue, "\"|\" needs a command after it")
		}
	}

	// routing
	if c.Mode > ModeHub {
		bad("mode", ErrInvalidValue, "%v is not normal, router, switch or hub", c.Mode)
	}
	for i, cl := range c.Claims {
		_, err := ParseClaim(cl)
		wrap(fmt.Sprintf("claims[%d]", i), err)
	}

	// process
	if c.Statsd.Server != "" {
		_, _, err := splitHostPort(c.Statsd.Server, false)
		wrap("statsd.server", err)
	}
	if c.Hooks != nil {
		events := make([]string, 0, len(c.Hooks))
		for ev := range c.Hooks {
			events = append(events, ev)
		}
		slices.Sort(events)
		for _, ev := range events {
			if !slices.Contains(HookEvents, ev) {
				bad("hooks."+ev, ErrInvalidValue, "%q is not an event (%s)", ev, strings.Join(HookEvents, ", "))
			}
		}
	}
	if c.Verbose && c.Quiet {
		bad("quiet", ErrConflict, "--verbose and --quiet cannot be combined")
	}
	if q := c.Peercloud.TunQueues; q < 0 || q > MaxTunQueues {
		bad("peercloud.tun-queues", ErrInvalidValue, "%d is not between 1 and %d", q, MaxTunQueues)
	}
	if l := c.Peercloud.PortForwardingLease; l < 0 || l > MaxPortForwardingLease {
		bad("peercloud.port-forwarding-lease", ErrInvalidValue, "%d is not between 1 and %d", l, MaxPortForwardingLease)
	}
	if b := c.Peercloud.SocketBuffer; b != 0 && (b < MinSocketBuffer || b > MaxSocketBuffer) {
		bad("peercloud.socket-buffer", ErrInvalidValue, "%d is not between %d and %d bytes", b, MinSocketBuffer, MaxSocketBuffer)
	}
	if q := c.Peercloud.DeviceQueueLen; q < 0 || q > MaxDeviceQueueLen {
		bad("peercloud.device-queue-len", ErrInvalidValue, "%d is not between 1 and %d packets", q, MaxDeviceQueueLen)
	}
	if s := c.Peercloud.UDPShards; s < 0 || s > MaxUDPShards {
		bad("peercloud.udp-shards", ErrInvalidValue, "%d is not between 1 and %d", s, MaxUDPShards)
	}
	if c.Peercloud.MetricsListen != "" {
		_, err := ParseListen(c.Peercloud.MetricsListen, 0)
		wrap("peercloud.metrics-listen", err)
	}
	return errors.Join(errs...)
}

func (c *Config) validateCrypto(bad func(string, error, string, ...any), wrap func(string, error)) {
	if c.Crypto.Password == "" && c.Crypto.PrivateKey == "" {
		bad("crypto", ErrMissing, "either crypto.password or crypto.private-key must be set (in the config file, or with --password or --private-key)")
	}
	var priv [KeyLen]byte
	havePriv := false
	if c.Crypto.PrivateKey != "" {
		k, err := DecodeKey(c.Crypto.PrivateKey)
		wrap("crypto.private-key", err)
		priv, havePriv = k, err == nil
	}
	if c.Crypto.PublicKey != "" {
		pub, err := DecodeKey(c.Crypto.PublicKey)
		switch {
		case err != nil:
			wrap("crypto.public-key", err)
		case c.Crypto.PrivateKey == "":
			bad("crypto.public-key", ErrConflict, "is only used together with crypto.private-key; set that too or remove it")
		case havePriv && publicKeyOf(priv) != pub:
			bad("crypto.public-key", ErrConflict, "does not belong to crypto.private-key")
		}
	}
	for i, k := range c.Crypto.TrustedKeys {
		_, err := DecodeKey(k)
		wrap(fmt.Sprintf("crypto.trusted-keys[%d]", i), err)
	}
	for i, a := range c.Crypto.Algorithms {
		_, err := ParseAlgorithms([]string{a})
		wrap(fmt.Sprintf("crypto.algorithms[%d]", i), err)
	}
}

// checkDeviceName checks an interface name as Linux will: 1-15 bytes once
// "%d" is filled in, no '/', ':' or white space, at most one "%d" and no
// other '%'.
func checkDeviceName(name string) error {
	if name == "" {
		return fmt.Errorf("must not be empty: %w", ErrInvalidValue)
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\r\v\f") {
		return fmt.Errorf("%q is not a valid interface name: %w", name, ErrInvalidValue)
	}
	if strings.Count(name, "%") != strings.Count(name, "%d") || strings.Count(name, "%d") > 1 {
		return fmt.Errorf("%q: only one %%d and no other %% is allowed: %w", name, ErrInvalidValue)
	}
	if n := len(strings.Replace(name, "%d", "0", 1)); n > 15 {
		return fmt.Errorf("%q is %d bytes long, Linux allows 15: %w", name, n, ErrInvalidValue)
	}
	return nil
}

// ListenAddr returns the parsed Listen address (call after Validate).
func (c *Config) ListenAddr() (netip.AddrPort, error) { return ParseListen(c.Listen, DefaultPort) }

// ClaimList returns the parsed Claims (call after Validate).
func (c *Config) ClaimList() ([]Claim, error) {
	out := make([]Claim, 0, len(c.Claims))
	for _, s := range c.Claims {
		cl, err := ParseClaim(s)
		if err != nil {
			return nil, fmt.Errorf("config: claims: %w", err)
		}
		out = append(out, cl)
	}
	return out, nil
}

// AlgorithmSet returns the parsed Crypto.Algorithms (call after Validate).
func (c *Config) AlgorithmSet() (Algorithms, error) { return ParseAlgorithms(c.Crypto.Algorithms) }

// PeerAddresses returns Peers as host:port strings, port 3210 added where
// none was given (call after Validate).
func (c *Config) PeerAddresses() ([]string, error) {
	out := make([]string, 0, len(c.Peers))
	for _, p := range c.Peers {
		a, err := PeerAddress(p)
		if err != nil {
			return nil, fmt.Errorf("config: peers: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}
