package config

import (
	"fmt"
	"strings"
	"time"
)

// Args are the settings given on the command line, as VpnCloud's Args: a nil
// pointer or empty list means "not given". The CLI fills it from flags; Flag
// names below are used in error messages.
type Args struct {
	Type        *DeviceType    // -t, --type
	Device      *string        // -d, --device
	DevicePath  *string        // --device-path
	FixRPFilter bool           // --fix-rp-filter
	Mode        *Mode          // -m, --mode
	Password    *string        // -p, --password (env PASSWORD)
	PrivateKey  *string        // --private-key, --key (env PRIVATE_KEY)
	PublicKey   *string        // --public-key
	TrustedKeys []string       // --trusted-key, --trust
	Algorithms  []string       // --algorithm, --algo
	Claims      []string       // --claim
	NoAutoClaim bool           // --no-auto-claim
	Listen      *string        // -l, --listen
	Peers       []string       // -c, --peer, --connect
	PeerTimeout *time.Duration // --peer-timeout
	Keepalive   *time.Duration // --keepalive
	SwitchTO    *time.Duration // --switch-timeout

	BeaconStore    *string        // --beacon-store
	BeaconLoad     *string        // --beacon-load
	BeaconInterval *time.Duration // --beacon-interval
	BeaconPassword *string        // --beacon-password

	IP                 *string  // --ip
	AdvertiseAddresses []string // --advertise-addresses
	Ifup               *string  // --ifup
	Ifdown             *string  // --ifdown

	NoPortForwarding bool     // --no-port-forwarding
	Daemon           bool     // --daemon
	PIDFile          *string  // --pid-file
	StatsFile        *string  // --stats-file
	StatsdServer     *string  // --statsd-server
	StatsdPrefix     *string  // --statsd-prefix
	User             *string  // --user
	Group            *string  // --group
	LogFile          *string  // --log-file
	Hooks            []string // --hook, "script" or "event:script"
	Verbose          bool     // -v, --verbose
	Quiet            bool     // -q, --quiet

	MetricsListen *string // --metrics-listen (peercloud)
	NoRoutes      bool    // --no-routes (peercloud)
	NoRelay       bool    // --no-relay (peercloud)
	NoTunOffload  bool    // --no-tun-offload (peercloud)
	NoUDPGSO      bool    // --no-udp-gso (peercloud)
	NoUDPGRO      bool    // --no-udp-gro (peercloud)
	NoDeviceYield bool    // --no-device-yield (peercloud)
	NoSmallLane   bool    // --no-small-lane (peercloud)
	NoLaneLinger  bool    // --no-lane-linger (peercloud)
	TunQueues     *int    // --tun-queues (peercloud)
	UDPShards     *int    // --udp-shards (peercloud)
	// PortForwardingLease is --port-forwarding-lease (peercloud).
	PortForwardingLease *int
	// SocketBuffer is --socket-buffer (peercloud).
	SocketBuffer *int
	// DeviceQueueLen is --device-queue-len (peercloud).
	DeviceQueueLen *int
}

// MergeArgs applies command-line settings over c, as VpnCloud's merge_args:
// given scalars replace, switches only turn their setting on (or off for the
// --no-* ones), peers, claims, advertise addresses and trusted keys are
// appended, algorithms replace when any are given, and each --hook is either
// "event:script" (split at the first colon) or a script for every event.
func (c *Config) MergeArgs(a *Args) {
	str := func(dst *string, v *string, key, flag string) {
		if v != nil {
			*dst = *v
			c.setOrigin(key, origin{flag: flag})
		}
	}
	dur := func(dst *time.Duration, v *time.Duration, key, flag string) {
		if v != nil {
			*dst = *v
			c.setOrigin(key, origin{flag: flag})
		}
	}
	list := func(dst *[]string, items []string, key, flag string) {
		for _, it := range items {
			c.setOrigin(fmt.Sprintf("%s[%d]", key, len(*dst)), origin{flag: flag})
			*dst = append(*dst, it)
		}
	}
	flag := func(b bool, key, flag string) bool {
		if b {
			c.setOrigin(key, origin{flag: flag})
		}
		return b
	}

	if a.Type != nil {
		c.Device.Type = *a.Type
		c.setOrigin("device.type", origin{flag: "--type"})
	}
	str(&c.Device.Name, a.Device, "device.name", "--device")
	str(&c.Device.Path, a.DevicePath, "device.path", "--device-path")
	if flag(a.FixRPFilter, "device.fix-rp-filter", "--fix-rp-filter") {
		c.Device.FixRPFilter = true
	}
	str(&c.IP, a.IP, "ip", "--ip")
	str(&c.Ifup, a.Ifup, "ifup", "--ifup")
	list(&c.AdvertiseAddresses, a.AdvertiseAddresses, "advertise-addresses", "--advertise-addresses")
	str(&c.Ifdown, a.Ifdown, "ifdown", "--ifdown")
	str(&c.Listen, a.Listen, "listen", "--listen")
	list(&c.Peers, a.Peers, "peers", "--peer")
	dur(&c.PeerTimeout, a.PeerTimeout, "peer-timeout", "--peer-timeout")
	dur(&c.Keepalive, a.Keepalive, "keepalive", "--keepalive")
	str(&c.Beacon.Store, a.BeaconStore, "beacon.store", "--beacon-store")
	str(&c.Beacon.Load, a.BeaconLoad, "beacon.load", "--beacon-load")
	dur(&c.Beacon.Interval, a.BeaconInterval, "beacon.interval", "--beacon-interval")
	str(&c.Beacon.Password, a.BeaconPassword, "beacon.password", "--beacon-password")
	if a.Mode != nil {
		c.Mode = *a.Mode
		c.setOrigin("mode", origin{flag: "--mode"})
	}
	dur(&c.SwitchTimeout, a.SwitchTO, "switch-timeout", "--switch-timeout")
	list(&c.Claims, a.Claims, "claims", "--claim")
	if flag(a.NoAutoClaim, "auto-claim", "--no-auto-claim") {
		c.AutoClaim = false
	}
	if flag(a.NoPortForwarding, "port-forwarding", "--no-port-forwarding") {
		c.PortForwarding = false
	}
	if a.Daemon {
		c.Daemonize = true
	}
	str(&c.PIDFile, a.PIDFile, "pid-file", "--pid-file")
	str(&c.StatsFile, a.StatsFile, "stats-file", "--stats-file")
	str(&c.Statsd.Server, a.StatsdServer, "statsd.server", "--statsd-server")
	str(&c.Statsd.Prefix, a.StatsdPrefix, "statsd.prefix", "--statsd-prefix")
	str(&c.User, a.User, "user", "--user")
	str(&c.Group, a.Group, "group", "--group")
	str(&c.Crypto.Password, a.Password, "crypto.password", "--password")
	str(&c.Crypto.PublicKey, a.PublicKey, "crypto.public-key", "--public-key")
	str(&c.Crypto.PrivateKey, a.PrivateKey, "crypto.private-key", "--private-key")
	list(&c.Crypto.TrustedKeys, a.TrustedKeys, "crypto.trusted-keys", "--trusted-key")
	if len(a.Algorithms) > 0 {
		c.Crypto.Algorithms = nil
		list(&c.Crypto.Algorithms, a.Algorithms, "crypto.algorithms", "--algorithm")
	}
	for _, h := range a.Hooks {
		if event, script, ok := strings.Cut(h, ":"); ok {
			if c.Hooks == nil {
				c.Hooks = map[string]string{}
			}
			c.Hooks[event] = script
			c.setOrigin("hooks."+event, origin{flag: "--hook"})
		} else {
			c.Hook = h
			c.setOrigin("hook", origin{flag: "--hook"})
		}
	}
	str(&c.LogFile, a.LogFile, "log-file", "--log-file")
	if a.Verbose {
		c.Verbose = true
	}
	if a.Quiet {
		c.Quiet = true
	}
	str(&c.Peercloud.MetricsListen, a.MetricsListen, "peercloud.metrics-listen", "--metrics-listen")
	if a.NoRoutes {
		c.Peercloud.NoRoutes = true
		c.setOrigin("peercloud.no-routes", origin{flag: "--no-routes"})
	}
	for _, b := range []struct {
		set       bool
		dst       *bool
		key, flag string
	}{
		{a.NoRelay, &c.Peercloud.NoRelay, "peercloud.no-relay", "--no-relay"},
		{a.NoTunOffload, &c.Peercloud.NoTunOffload, "peercloud.no-tun-offload", "--no-tun-offload"},
		{a.NoUDPGSO, &c.Peercloud.NoUDPGSO, "peercloud.no-udp-gso", "--no-udp-gso"},
		{a.NoUDPGRO, &c.Peercloud.NoUDPGRO, "peercloud.no-udp-gro", "--no-udp-gro"},
		{a.NoDeviceYield, &c.Peercloud.NoDeviceYield, "peercloud.no-device-yield", "--no-device-yield"},
		{a.NoSmallLane, &c.Peercloud.NoSmallLane, "peercloud.no-small-lane", "--no-small-lane"},
		{a.NoLaneLinger, &c.Peercloud.NoLaneLinger, "peercloud.no-lane-linger", "--no-lane-linger"},
	} {
		if b.set {
			*b.dst = true
			c.setOrigin(b.key, origin{flag: b.flag})
		}
	}
	if a.TunQueues != nil {
		c.Peercloud.TunQueues = *a.TunQueues
		c.setOrigin("peercloud.tun-queues", origin{flag: "--tun-queues"})
	}
	if a.UDPShards != nil {
		c.Peercloud.UDPShards = *a.UDPShards
		c.setOrigin("peercloud.udp-shards", origin{flag: "--udp-shards"})
	}
	if a.PortForwardingLease != nil {
		c.Peercloud.PortForwardingLease = *a.PortForwardingLease
		c.setOrigin("peercloud.port-forwarding-lease", origin{flag: "--port-forwarding-lease"})
	}
	if a.SocketBuffer != nil {
		c.Peercloud.SocketBuffer = *a.SocketBuffer
		c.setOrigin("peercloud.socket-buffer", origin{flag: "--socket-buffer"})
	}
	if a.DeviceQueueLen != nil {
		c.Peercloud.DeviceQueueLen = *a.DeviceQueueLen
		c.setOrigin("peercloud.device-queue-len", origin{flag: "--device-queue-len"})
	}
}
