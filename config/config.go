// Package config owns peercloud's typed configuration: the VpnCloud 2.3
// compatible settings (plus a few clearly separated peercloud additions),
// their defaults, the YAML config file format, the merge of defaults <- file
// <- command-line flags, and validation at start. It never touches the
// system: no files are opened except the config file by LoadFile, no names
// are resolved, no sockets are created.
//
// Values are kept the way the user wrote them (strings for addresses, claims
// and keys) so that they can be shown back in messages; the Parse* helpers
// and the Config methods turn them into typed values. After Validate returns
// nil, every one of those helpers is guaranteed to succeed on the Config.
package config

import (
	"fmt"
	"strings"
	"time"
)

// DefaultPort is VpnCloud's UDP port, used for listen and peer addresses
// that give no port.
const DefaultPort = 3210

// DefaultPeerTimeout is VpnCloud's peer timeout.
const DefaultPeerTimeout = 300 * time.Second

// DefaultStatsdPrefix is the statsd prefix used when none is configured.
const DefaultStatsdPrefix = "vpncloud"

// DeviceType is the kind of virtual interface: TUN carries IP packets, TAP
// Ethernet frames. The zero value is DeviceTUN.
type DeviceType uint8

const (
	// DeviceTUN processes IP packets (the default).
	DeviceTUN DeviceType = iota
	// DeviceTAP processes Ethernet frames.
	DeviceTAP
)

func (t DeviceType) String() string {
	switch t {
	case DeviceTUN:
		return "tun"
	case DeviceTAP:
		return "tap"
	}
	return fmt.Sprintf("DeviceType(%d)", uint8(t))
}

// ParseDeviceType parses "tun" or "tap", case-insensitively as VpnCloud does.
func ParseDeviceType(s string) (DeviceType, error) {
	switch strings.ToLower(s) {
	case "tun":
		return DeviceTUN, nil
	case "tap":
		return DeviceTAP, nil
	}
	return 0, fmt.Errorf("%q is not a device type (tun or tap): %w", s, ErrInvalidValue)
}

// Mode is how the VPN forwards traffic. The zero value is ModeNormal.
type Mode uint8

const (
	// ModeNormal is switch for TAP devices and router for TUN devices.
	ModeNormal Mode = iota
	// ModeRouter forwards by the peers' claimed subnets.
	ModeRouter
	// ModeSwitch learns source addresses and broadcasts unknown ones.
	ModeSwitch
	// ModeHub broadcasts everything to all peers.
	ModeHub
)

func (m Mode) String() string {
	switch m {
	case ModeNormal:
		return "normal"
	case ModeRouter:
		return "router"
	case ModeSwitch:
		return "switch"
	case ModeHub:
		return "hub"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode parses normal|router|switch|hub, case-insensitively.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "normal":
		return ModeNormal, nil
	case "router":
		return ModeRouter, nil
	case "switch":
		return ModeSwitch, nil
	case "hub":
		return ModeHub, nil
	}
	return 0, fmt.Errorf("%q is not a mode (normal, router, switch or hub): %w", s, ErrInvalidValue)
}

// Effective resolves ModeNormal for a device type: switch for TAP, router for
// TUN; other modes are returned unchanged.
func (m Mode) Effective(t DeviceType) Mode {
	if m != ModeNormal {
		return m
	}
	if t == DeviceTAP {
		return ModeSwitch
	}
	return ModeRouter
}

// Device holds the virtual interface settings (YAML section "device").
type Device struct {
	// Type is tun or tap. Default (zero): DeviceTUN.
	Type DeviceType
	// Name of the interface; a "%d" is replaced by the first free number.
	// Default: "vpncloud%d".
	Name string
	// Path of the clone device. Default "": the system's /dev/net/tun.
	Path string
	// FixRPFilter makes the daemon set rp_filter so the host is not exposed
	// to CVE-2019-14899. Default: false.
	FixRPFilter bool
}

// Crypto holds the identity and cipher settings (YAML section "crypto").
type Crypto struct {
	// Password derives the key pair (PBKDF2) when PrivateKey is empty.
	// Default "": none. Either Password or PrivateKey is required.
	Password string
	// PrivateKey is the base62 Ed25519 seed (as printed by genkey).
	// Default "": derive from Password. Wins over Password when both are set.
	PrivateKey string
	// PublicKey is the base62 public key matching PrivateKey; optional, and
	// checked against it. Default "": computed from PrivateKey.
	PublicKey string
	// TrustedKeys are base62 public keys of peers to accept. Default empty:
	// trust only the own public key (nodes sharing a password trust each other).
	TrustedKeys []string
	// Algorithms allowed, VpnCloud names (plain, aes128, aes256, chacha20 and
	// their aliases). Default empty: aes128, aes256 and chacha20.
	Algorithms []string
}

// Beacon holds the beacon settings (YAML section "beacon").
type Beacon struct {
	// Store is a file path, or "|command", to store this node's beacon.
	// Default "": beacons are not stored.
	Store string
	// Load is a file path, or "|command", to load other nodes' beacons from.
	// Default "": beacons are not loaded.
	Load string
	// Interval between storing and loading beacons. Default: 3600 s.
	Interval time.Duration
	// Password encrypts beacon data. Default "": unencrypted beacons.
	Password string
}

// Statsd holds the statsd reporting settings (YAML section "statsd").
type Statsd struct {
	// Server is host:port to send statistics to. Default "": no statsd.
	Server string
	// Prefix of every statsd key. Default "": DefaultStatsdPrefix.
	Prefix string
}

// Peercloud holds settings that VpnCloud does not have (YAML section
// "peercloud"; a VpnCloud node refuses a file that contains it).
type Peercloud struct {
	// MetricsListen is an address (IP:port) on which to serve metrics.
	// Default "": no metrics endpoint.
	MetricsListen string
	// LogLevel is the log level when neither -v nor -q is given: debug,
	// info, warn or error. A SIGHUP reload applies a changed value.
	// Default "": info.
	LogLevel string
	// NoRoutes stops the daemon from installing kernel routes through the
	// device for the prefixes peers claim (those the device's own prefix
	// does not cover). Default: false, routes are installed.
	NoRoutes bool
	// NoRelay turns relaying off: this node neither forwards traffic
	// between peers that cannot reach each other directly nor reaches
	// peers through a relay, and does not announce relaying in its
	// handshakes. Default: false, relays are on.
	NoRelay bool
	// NoTunOffload keeps the device plain: no IFF_VNET_HDR, no TSO/USO
	// superpackets from or to the kernel. Default: false, offloads the
	// kernel accepts are used.
	NoTunOffload bool
	// NoUDPGSO turns off UDP_SEGMENT send offload. Default: false.
	NoUDPGSO bool
	// NoUDPGRO turns off UDP_GRO receive offload. Default: false.
	NoUDPGRO bool
	// NoDeviceYield keeps the device writer on its core after it wrote a
	// burst of small packets. Default: false, while the host's cores are
	// contended it pauses for a moment so that the local readers the
	// write woke run at once (pipeline.Config.YieldBytes).
	NoDeviceYield bool
	// NoSmallLane turns off the small-packet lane. Default: false, the
	// node opens one more device queue and one more socket on its port,
	// has the kernel steer packets of at most SmallPacket bytes there
	// (eBPF and reuseport programs) and runs stages of their own for them
	// (pipeline.Config.SmallLane), so a ping or a TCP ACK does not wait
	// behind a saturating stream's data.
	NoSmallLane bool
	// NoLaneLinger keeps the small-packet lane from lingering. Default:
	// false, while traffic is steady (three packets within a second) the
	// lane's reader waits for the next one in the kernel, keeping a
	// processor and waking ~125 times a second, which takes ~25 % off a
	// ping through an idle tunnel and half off one under a saturating
	// stream; after a second without packets it waits in Go's poller
	// again (pipeline.Config.SmallLaneLinger).
	NoLaneLinger bool
	// TunQueues is the number of TUN queues (IFF_MULTI_QUEUE), each with
	// its own reader, 1 to MaxTunQueues. Default 1; 0 means 1.
	TunQueues int
	// UDPShards is the number of SO_REUSEPORT sockets on the listen
	// port, each with its own reader, 1 to MaxUDPShards. Default 1; 0
	// means 1.
	UDPShards int
	// PortForwardingLease is the lease in seconds asked of the router for
	// the UPnP port mapping, renewed a minute before it ends (halfway for
	// two minutes or less), 1 to MaxPortForwardingLease. Default 0:
	// VpnCloud's 1800.
	PortForwardingLease int
	// SocketBuffer is the receive and send buffer size in bytes asked for
	// each UDP socket (SO_RCVBUF/SO_SNDBUF, past the system's limits when
	// running as root), MinSocketBuffer to MaxSocketBuffer. Default 0:
	// udpio.DefaultBufferSize (4 MiB), which rides out scheduling gaps
	// without loss. A small buffer (the kernel's usual 208 KiB) drops
	// sooner under overload: a shorter standing queue (ping under a
	// saturating TCP stream ~1 ms instead of ~3) for fewer bits per second
	// and many retransmissions (docs/OPERATIONS.md).
	SocketBuffer int
	// DeviceQueueLen is the device's transmit queue length in packets,
	// the kernel's ring between the network stack and peercloud's device
	// readers, 1 to MaxDeviceQueueLen. Default 0: DefaultDeviceQueueLen.
	// The kernel drops what does not fit, so a longer queue rides out a
	// reader waiting for a core (busy small machines) at the price of
	// queueing delay while the tunnel is overloaded.
	DeviceQueueLen int
}

// DefaultDeviceQueueLen is Peercloud.DeviceQueueLen's default, about
// eight times the kernel's 500 for TUN/TAP: ~25 ms of 64-byte packets at
// 160 kpps, longer than the sending node's reader was seen to wait for a
// core on a busy 2-core machine (up to 8 ms). There it raised the 64-byte
// rate carried with at most 1 % loss by 1.16x, from ~1.15x Nebula's to
// 1.3-1.5x (docs/OPERATIONS.md).
const DefaultDeviceQueueLen = 4096

// Bounds of Peercloud.TunQueues (the kernel's limit) and
// Peercloud.UDPShards.
const (
	MaxTunQueues = 256
	MaxUDPShards = 64
	// MaxPortForwardingLease is UPnP IGD 2's longest lease, a week.
	MaxPortForwardingLease = 604800
	// MinSocketBuffer and MaxSocketBuffer bound Peercloud.SocketBuffer.
	MinSocketBuffer = 4096
	MaxSocketBuffer = 256 << 20
	// MaxDeviceQueueLen bounds Peercloud.DeviceQueueLen.
	MaxDeviceQueueLen = 1 << 16
)

// Config is the complete configuration of one peercloud instance. Build it
// with Default, then MergeFile and MergeArgs, then call Validate. The zero
// value is not a usable configuration (Default fills in VpnCloud's
// defaults); each field documents its default.
type Config struct {
	Device Device

	// IP is an IPv4 address with optional prefix length ("10.0.0.1/24")
	// configured on the device. Default "": the device is left unconfigured.
	// Without a prefix length /24 is used, as VpnCloud does.
	IP string
	// AdvertiseAddresses are extra own addresses told to peers, each IP or
	// IP:port (the listen port when none). Default empty.
	AdvertiseAddresses []string
	// Ifup is a shell command run after the device is set up ($IFNAME set).
	// Default "": none.
	Ifup string
	// Ifdown is a shell command run when the device goes down. Default "".
	Ifdown string

	Crypto Crypto

	// Listen is the UDP address: a port, "IP:port", "[v6]:port" or "*:port".
	// A bare port or "*" listens on all IPv4 and IPv6 addresses.
	// Default: "3210".
	Listen string
	// Peers to connect to, "host:port" or "host" (port 3210); host names are
	// resolved by the daemon. Default empty.
	Peers []string
	// PeerTimeout after which a silent peer is dropped; whole seconds,
	// at most 65535. Default: 300 s.
	PeerTimeout time.Duration
	// Keepalive is the interval of peer-list exchanges. Default 0: derived
	// from PeerTimeout as VpnCloud does, see KeepaliveInterval.
	Keepalive time.Duration

	Beacon Beacon

	// Mode of forwarding. Default (zero): ModeNormal.
	Mode Mode
	// SwitchTimeout after which a learned address is forgotten (switch
	// mode). Default: 300 s.
	SwitchTimeout time.Duration
	// Claims are the local subnets to claim ("10.1.1.0/24", an IPv6 prefix
	// or a MAC address prefix). Default empty.
	Claims []string
	// AutoClaim claims the device's own IP (TUN only). Default: true.
	AutoClaim bool
	// PortForwarding tries to map the listen port on a UPnP router.
	// Default: true.
	PortForwarding bool

	// Daemonize runs the process in the background. Default: false.
	Daemonize bool
	// PIDFile receives the process id when daemonizing. Default "": none.
	PIDFile string
	// StatsFile is periodically overwritten with statistics. Default "".
	StatsFile string
	Statsd    Statsd
	// User to switch to after setup. Default "": stay.
	User string
	// Group to switch to after setup. Default "": stay.
	Group string
	// Hook is a script (run with sh -c) for every event. Default "".
	Hook string
	// Hooks maps an event name (see HookEvents) to a script for that event.
	// Default empty.
	Hooks map[string]string

	// LogFile also receives the log (created, or truncated). Command line
	// only. Default "": log to stdout only.
	LogFile string
	// Verbose logs debug messages. Command line only. Default: false.
	Verbose bool
	// Quiet logs only warnings and errors. Command line only. Default: false.
	Quiet bool

	// Peercloud holds the settings VpnCloud does not have.
	Peercloud Peercloud

	// where records where each key's value came from, for error messages.
	// Keys are dotted names; list items are "name[i]".
	where map[string]origin
}

// origin is where a value came from: a line of the config file or a flag.
type origin struct {
	line int
	flag string
}

// ParseLogLevel checks a peercloud.log-level value (debug, info, warn or
// error, case-insensitive) and returns it in lower case.
func ParseLogLevel(s string) (string, error) {
	switch l := strings.ToLower(s); l {
	case "debug", "info", "warn", "error":
		return l, nil
	}
	return "", fmt.Errorf("%q is not a log level (debug, info, warn or error): %w", s, ErrInvalidValue)
}

// HookEvents are the events hook scripts can be attached to, as VpnCloud.
var HookEvents = []string{
	"peer_connecting", "peer_connected", "peer_disconnected",
	"device_setup", "device_configured", "vpn_started", "vpn_shutdown",
}

// Default returns VpnCloud 2.3.0's defaults.
func Default() *Config {
	return &Config{
		Device:         Device{Type: DeviceTUN, Name: "vpncloud%d"},
		Listen:         "3210",
		PeerTimeout:    DefaultPeerTimeout,
		Beacon:         Beacon{Interval: 3600 * time.Second},
		Mode:           ModeNormal,
		SwitchTimeout:  300 * time.Second,
		AutoClaim:      true,
		PortForwarding: true,
		Hooks:          map[string]string{},
		where:          map[string]origin{},
	}
}

// KeepaliveInterval returns Keepalive, or when it is zero VpnCloud's
// derived value max(peer-timeout/2 - 60 s, 1 s).
func (c *Config) KeepaliveInterval() time.Duration {
	if c.Keepalive > 0 {
		return c.Keepalive
	}
	half := c.PeerTimeout / time.Second / 2
	if half <= 61 {
		return time.Second
	}
	return (half - 60) * time.Second
}

// StatsdPrefix returns Statsd.Prefix, or DefaultStatsdPrefix when empty.
func (c *Config) StatsdPrefix() string {
	if c.Statsd.Prefix == "" {
		return DefaultStatsdPrefix
	}
	return c.Statsd.Prefix
}

// HookFor returns the script to run for event: the per-event hook when one
// is set, else the general hook, else "".
func (c *Config) HookFor(event string) string {
	if s, ok := c.Hooks[event]; ok {
		return s
	}
	return c.Hook
}

// setOrigin records where key's value came from.
func (c *Config) setOrigin(key string, o origin) {
	if c.where == nil {
		c.where = map[string]origin{}
	}
	c.where[key] = o
}

// errAt builds an *Error for key, locating it by where its value came from.
func (c *Config) errAt(key string, sentinel error, format string, args ...any) *Error {
	o := c.where[key]
	return &Error{Key: key, Line: o.line, Flag: o.flag, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}
