package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/peercloud/peercloud/config"
)

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage error")

// invocation is a parsed command line.
type invocation struct {
	args       config.Args
	configFile string
	version    bool
	help       bool
	// sub is the subcommand ("genkey"), or "" to run the daemon.
	sub string
	// genkeyPassword is genkey's -p/--password (or env PASSWORD), nil if none.
	genkeyPassword *string
	// shell is completion's argument.
	shell string
	// status holds `peercloud status`'s flags.
	status statusOptions
	usage  func(w io.Writer)
}

// Environment variables read as VpnCloud reads them (clap's `env`).
const (
	envPassword   = "PASSWORD"
	envPrivateKey = "PRIVATE_KEY"
)

// parseCommandLine parses argv (without the program name) the way VpnCloud
// 2.3.0 does: the same flags and aliases, comma-separated lists for
// --trusted-key, --algorithm, --claim and --advertise-addresses, repeatable
// --peer and --hook, env PASSWORD and PRIVATE_KEY, and subcommands after the
// flags.
func parseCommandLine(argv []string, getenv func(string) string) (*invocation, error) {
	inv := &invocation{}
	fs := newMainFlagSet(inv)
	inv.usage = func(w io.Writer) { printUsage(w, fs) }
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			inv.help = true
			return inv, nil
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if rest := fs.Args(); len(rest) > 0 {
		if err := parseSubcommand(inv, rest, getenv); err != nil {
			return nil, err
		}
		return inv, nil
	}
	a := &inv.args
	if !fs.Changed("password") {
		if v := getenv(envPassword); v != "" {
			a.Password = &v
		}
	}
	if !fs.Changed("private-key") && !fs.Changed("key") {
		if v := getenv(envPrivateKey); v != "" {
			a.PrivateKey = &v
		}
	}
	if (fs.Changed("password")) && (fs.Changed("private-key") || fs.Changed("key")) {
		return nil, fmt.Errorf("%w: --password and --private-key cannot be used together", errUsage)
	}
	if a.Verbose && a.Quiet {
		return nil, fmt.Errorf("%w: --verbose and --quiet cannot be used together", errUsage)
	}
	return inv, nil
}

func parseSubcommand(inv *invocation, rest []string, getenv func(string) string) error {
	switch rest[0] {
	case "genkey", "gen-key":
		inv.sub = "genkey"
		fs := pflag.NewFlagSet("peercloud genkey", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		pw := &optString{p: &inv.genkeyPassword}
		fs.VarP(pw, "password", "p", "derive the key pair from this `password` instead of generating it randomly (env PASSWORD)")
		fs.BoolVarP(&inv.args.Verbose, "verbose", "v", false, "print debug information")
		fs.BoolVarP(&inv.args.Quiet, "quiet", "q", false, "only print errors and warnings")
		inv.usage = func(w io.Writer) {
			fmt.Fprintf(w, "Generate and print a key pair and exit.\n\nUsage: peercloud genkey [--password PASSWORD]\n\n%s", flagUsages(fs))
		}
		if err := fs.Parse(rest[1:]); err != nil {
			if errors.Is(err, pflag.ErrHelp) {
				inv.help = true
				return nil
			}
			return fmt.Errorf("%w: genkey: %w", errUsage, err)
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("%w: genkey: unexpected argument %q", errUsage, fs.Arg(0))
		}
		if inv.genkeyPassword == nil {
			if v := getenv(envPassword); v != "" {
				inv.genkeyPassword = &v
			}
		}
		return nil
	case "status", "show":
		inv.sub = "status"
		fs := pflag.NewFlagSet("peercloud status", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.BoolVar(&inv.status.json, "json", false, "print the status as JSON")
		fs.StringVar(&inv.status.socket, "socket", "", "the daemon's control socket `path`")
		fs.StringVarP(&inv.status.device, "device", "d", "", "the daemon's device `name` (its socket is /run/peercloud/NAME.sock)")
		inv.usage = func(w io.Writer) {
			fmt.Fprintf(w, "Show the peers and counters of a running daemon.\n\nUsage: peercloud status [--json] [--socket PATH | -d DEVICE]\n\n%s", flagUsages(fs))
		}
		if err := fs.Parse(rest[1:]); err != nil {
			if errors.Is(err, pflag.ErrHelp) {
				inv.help = true
				return nil
			}
			return fmt.Errorf("%w: status: %w", errUsage, err)
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("%w: status: unexpected argument %q", errUsage, fs.Arg(0))
		}
		if inv.status.socket != "" && inv.status.device != "" {
			return fmt.Errorf("%w: status: --socket and --device cannot be used together", errUsage)
		}
		return nil
	case "completion":
		inv.sub = "completion"
		inv.usage = func(w io.Writer) {
			fmt.Fprintf(w, "Print a shell completion script.\n\nUsage: peercloud completion bash|zsh|fish\n")
		}
		if len(rest) == 2 && (rest[1] == "-h" || rest[1] == "--help") {
			inv.help = true
			return nil
		}
		if len(rest) != 2 {
			return fmt.Errorf("%w: completion needs one shell: bash, zsh or fish", errUsage)
		}
		inv.shell = rest[1]
		return nil
	case "man":
		inv.sub = "man"
		if len(rest) > 1 {
			return fmt.Errorf("%w: man: unexpected argument %q", errUsage, rest[1])
		}
		return nil
	case "migrate-config", "migrate", "ws-proxy", "wsproxy", "config", "install":
		return fmt.Errorf("%w: the VpnCloud subcommand %q is not supported by peercloud", errUsage, rest[0])
	}
	return fmt.Errorf("%w: unknown subcommand or stray argument %q (subcommands: genkey, status, completion, man)", errUsage, rest[0])
}

// newMainFlagSet registers VpnCloud's flags, writing into inv.
func newMainFlagSet(inv *invocation) *pflag.FlagSet {
	a := &inv.args
	fs := pflag.NewFlagSet("peercloud", pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help is printed by the caller
	fs.SetInterspersed(false)
	fs.SortFlags = false

	str := func(p **string, name, short, def, usage string) *pflag.Flag {
		fs.VarP(&optString{p: p}, name, short, usage)
		f := fs.Lookup(name)
		f.DefValue = def
		return f
	}
	secs := func(p **time.Duration, name string, max uint64, def, usage string) {
		fs.Var(&optSeconds{p: p, max: max}, name, usage)
		fs.Lookup(name).DefValue = def
	}
	list := func(p *[]string, split bool, name, short, usage string) *listValue {
		v := &listValue{p: p, split: split}
		fs.VarP(v, name, short, usage)
		return v
	}
	alias := func(v pflag.Value, name, of string) {
		fs.Var(v, name, "alias of --"+of)
		_ = fs.MarkHidden(name) // cannot fail: the flag was just defined
	}

	fs.StringVar(&inv.configFile, "config", "", "read configuration options from this `file` (flags override it)")
	fs.VarP(&enumValue[config.DeviceType]{p: &a.Type, parse: config.ParseDeviceType}, "type", "t", "the `type` of network: tun (IP packets) or tap (Ethernet frames)")
	fs.Lookup("type").DefValue = "tun"
	str(&a.Device, "device", "d", "vpncloud%d", "`name` of the virtual device; %d is replaced by a free number")
	str(&a.DevicePath, "device-path", "", "/dev/net/tun", "`path` of the base device")
	fs.BoolVar(&a.FixRPFilter, "fix-rp-filter", false, "fix the rp_filter settings on the host (CVE-2019-14899)")
	fs.VarP(&enumValue[config.Mode]{p: &a.Mode, parse: config.ParseMode}, "mode", "m", "the `mode` of the VPN: normal, router, switch or hub")
	fs.Lookup("mode").DefValue = "normal"
	str(&a.Password, "password", "p", "", "the shared `password` to encrypt all traffic (env PASSWORD)")
	pk := &optString{p: &a.PrivateKey}
	fs.Var(pk, "private-key", "the private `key` to use, base62 as printed by genkey (env PRIVATE_KEY; alias --key)")
	alias(pk, "key", "private-key")
	str(&a.PublicKey, "public-key", "", "", "the public `key` matching the private key (optional)")
	tk := list(&a.TrustedKeys, true, "trusted-key", "", "other public `keys` to trust; repeatable, comma-separated (alias --trust)")
	fs.Lookup("trusted-key").DefValue = "own public key only"
	alias(tk, "trust", "trusted-key")
	al := list(&a.Algorithms, true, "algorithm", "", "`algorithms` to allow: plain, aes128, aes256, chacha20; repeatable, comma-separated (alias --algo)")
	fs.Lookup("algorithm").DefValue = "aes128,aes256,chacha20"
	alias(al, "algo", "algorithm")
	list(&a.Claims, true, "claim", "", "local `subnets` to claim (IP/prefix); repeatable, comma-separated")
	fs.BoolVar(&a.NoAutoClaim, "no-auto-claim", false, "do not automatically claim the device ip")
	str(&a.Listen, "listen", "l", "3210", "the `address` to listen on for data: a port number, IP:port or [IPv6]:port")
	pv := list(&a.Peers, false, "peer", "c", "`address` of a peer to connect to (host:port); repeatable (alias --connect)")
	alias(pv, "connect", "peer")
	secs(&a.PeerTimeout, "peer-timeout", 65535, "300", "peer timeout in `seconds`")
	secs(&a.Keepalive, "keepalive", 1<<32-1, "peer-timeout/2-60", "interval in `seconds` of messages that keep connections alive")
	secs(&a.SwitchTO, "switch-timeout", 1<<32-1, "300", "switch table entry timeout in `seconds`")
	str(&a.BeaconStore, "beacon-store", "", "", "the file `path` or |command to store the beacon")
	str(&a.BeaconLoad, "beacon-load", "", "", "the file `path` or |command to load the beacon")
	secs(&a.BeaconInterval, "beacon-interval", 1<<32-1, "3600", "beacon store/load interval in `seconds`")
	str(&a.BeaconPassword, "beacon-password", "", "", "`password` to encrypt the beacon with")
	fs.BoolVarP(&a.Verbose, "verbose", "v", false, "print debug information")
	fs.BoolVarP(&a.Quiet, "quiet", "q", false, "only print errors and warnings")
	str(&a.IP, "ip", "", "", "an IPv4 `address` (plus optional /prefix, default /24) for the interface")
	aa := list(&a.AdvertiseAddresses, true, "advertise-addresses", "", "IP `addresses` to advertise as our external address; comma-separated")
	alias(aa, "advertise_addresses", "advertise-addresses")
	str(&a.Ifup, "ifup", "", "", "a `command` to set up the network interface ($IFNAME)")
	str(&a.Ifdown, "ifdown", "", "", "a `command` to bring down the network interface ($IFNAME)")
	fs.BoolVar(&inv.version, "version", false, "print the version and exit")
	fs.BoolVar(&a.NoPortForwarding, "no-port-forwarding", false, "disable automatic port forwarding (UPnP)")
	fs.BoolVar(&a.Daemon, "daemon", false, "run the process in the background")
	str(&a.PIDFile, "pid-file", "", "", "store the process id in this `file` when daemonizing")
	str(&a.StatsFile, "stats-file", "", "", "print statistics to this `file`")
	str(&a.StatsdServer, "statsd-server", "", "", "send statistics to this statsd `server` (host:port)")
	str(&a.StatsdPrefix, "statsd-prefix", "", "vpncloud", "use the given `prefix` for statsd records")
	str(&a.User, "user", "", "", "run as this `user` after setup")
	str(&a.Group, "group", "", "", "run as this `group` after setup")
	str(&a.LogFile, "log-file", "", "", "print logs also to this `file` (truncated)")
	list(&a.Hooks, false, "hook", "", "call `script` on every event, or event:script on one event; repeatable")
	str(&a.MetricsListen, "metrics-listen", "", "", "peercloud: serve metrics on this `address` (IP:port)")
	fs.BoolVar(&a.NoRoutes, "no-routes", false, "peercloud: do not install kernel routes for the prefixes peers claim")
	fs.BoolVar(&a.NoRelay, "no-relay", false, "peercloud: neither relay between peers nor reach peers through a relay")
	fs.BoolVar(&a.NoTunOffload, "no-tun-offload", false, "peercloud: no TSO/USO superpackets on the device (IFF_VNET_HDR off)")
	fs.BoolVar(&a.NoUDPGSO, "no-udp-gso", false, "peercloud: no UDP_SEGMENT send offload")
	fs.BoolVar(&a.NoUDPGRO, "no-udp-gro", false, "peercloud: no UDP_GRO receive offload")
	fs.BoolVar(&a.NoSmallLane, "no-small-lane", false, "peercloud: no lane of its own for small packets (default: one more device queue and socket, to which the kernel steers packets of at most 256 bytes, with stages of their own, so pings and ACKs do not wait behind bulk data)")
	fs.BoolVar(&a.NoLaneLinger, "no-lane-linger", false, "peercloud: the small-packet lane always waits in Go's poller (default: while traffic is steady it waits in the kernel with a processor of its own, waking ~125 times a second, for ~25 % shorter pings; idle after a second without packets)")
	fs.BoolVar(&a.NoDeviceYield, "no-device-yield", false, "peercloud: the device writer keeps its core after writing bursts of small packets (default: while the host's cores are contended it pauses for ~20 µs, so the local readers it woke run)")
	fs.Var(&optCount{p: &a.TunQueues, max: config.MaxTunQueues}, "tun-queues", "peercloud: `number` of device queues, one reader each")
	fs.Lookup("tun-queues").DefValue = "1"
	fs.Var(&optCount{p: &a.UDPShards, max: config.MaxUDPShards}, "udp-shards", "peercloud: `number` of SO_REUSEPORT sockets, one reader each")
	fs.Lookup("udp-shards").DefValue = "1"
	fs.Var(&optCount{p: &a.PortForwardingLease, max: config.MaxPortForwardingLease}, "port-forwarding-lease",
		"peercloud: lease in `seconds` asked of the router for the UPnP port mapping (renewed before it ends)")
	fs.Lookup("port-forwarding-lease").DefValue = "1800"
	fs.Var(&optCount{p: &a.SocketBuffer, max: config.MaxSocketBuffer}, "socket-buffer",
		"peercloud: receive and send buffer `bytes` of each UDP socket (smaller: less queueing, more loss under overload)")
	fs.Lookup("socket-buffer").DefValue = "4194304"
	fs.Var(&optCount{p: &a.DeviceQueueLen, max: config.MaxDeviceQueueLen}, "device-queue-len",
		"peercloud: transmit queue `length` of the device in packets (longer: fewer drops while a reader waits for a core, more delay under overload)")
	fs.Lookup("device-queue-len").DefValue = strconv.Itoa(config.DefaultDeviceQueueLen)
	return fs
}

func printUsage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintf(w, `peercloud %s - peer-to-peer mesh VPN, compatible with VpnCloud 2.3

Usage:
  peercloud [options] [--config <file>] [-p <password>] [-l <addr>] [-c <addr>...]
  peercloud genkey [-p <password>]
  peercloud completion bash|zsh|fish
  peercloud man
  peercloud status [--json] [--socket <path> | -d <device>]

Options:
%s`, version, flagUsages(fs))
}

// flagUsages lists the visible flags, one per line: names, value name,
// description and default, aligned.
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ left, right string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		name, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() != "bool" {
			left += " <" + name + ">"
		}
		if f.Value.Type() != "bool" && f.DefValue != "" {
			usage += " [default: " + f.DefValue + "]"
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s  %s\n", width, r.left, r.right)
	}
	return b.String()
}

// optString is a string flag that records whether it was given.
type optString struct{ p **string }

func (v *optString) Set(s string) error { *v.p = &s; return nil }
func (v *optString) Type() string       { return "string" }
func (v *optString) String() string {
	if *v.p == nil {
		return ""
	}
	return **v.p
}

// optSeconds is a whole-seconds flag that records whether it was given.
type optSeconds struct {
	p   **time.Duration
	max uint64
}

func (v *optSeconds) Set(s string) error {
	d, err := config.ParseSeconds(s, v.max)
	if err != nil {
		return fmt.Errorf("not a number of seconds (0-%d)", v.max)
	}
	*v.p = &d
	return nil
}
func (v *optSeconds) Type() string { return "secs" }
func (v *optSeconds) String() string {
	if *v.p == nil {
		return ""
	}
	return fmt.Sprint(int64(**v.p / time.Second))
}

// optCount is a count flag (1 to max) that records whether it was given.
type optCount struct {
	p   **int
	max int
}

func (v *optCount) Set(s string) error {
	n, err := config.ParseCount(s, v.max)
	if err != nil {
		return fmt.Errorf("not a whole number from 1 to %d", v.max)
	}
	*v.p = &n
	return nil
}
func (v *optCount) Type() string { return "int" }
func (v *optCount) String() string {
	if *v.p == nil {
		return ""
	}
	return fmt.Sprint(**v.p)
}

// enumValue is a flag parsed by a config.Parse* function.
type enumValue[T fmt.Stringer] struct {
	p     **T
	parse func(string) (T, error)
}

func (v *enumValue[T]) Set(s string) error {
	t, err := v.parse(s)
	if err != nil {
		return errors.New(strings.TrimSuffix(err.Error(), ": "+config.ErrInvalidValue.Error()))
	}
	*v.p = &t
	return nil
}
func (v *enumValue[T]) Type() string { return "string" }
func (v *enumValue[T]) String() string {
	if *v.p == nil {
		return ""
	}
	return (**v.p).String()
}

// listValue appends each use to a list, split at commas when split is set
// (clap's use_delimiter). Aliases share one listValue so no value is lost.
type listValue struct {
	p     *[]string
	split bool
}

func (v *listValue) Set(s string) error {
	if !v.split {
		*v.p = append(*v.p, s)
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			return fmt.Errorf("empty item in %q", s)
		}
		*v.p = append(*v.p, item)
	}
	return nil
}
func (v *listValue) Type() string   { return "strings" }
func (v *listValue) String() string { return strings.Join(*v.p, ",") }
