package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/peercloud/peercloud/config"
)

func ptr[T any](v T) *T { return &v }

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseFlags(t *testing.T) {
	sec := func(n int) *time.Duration { return ptr(time.Duration(n) * time.Second) }
	for _, tc := range []struct {
		name string
		argv []string
		env  map[string]string
		want config.Args
	}{
		{"none", nil, nil, config.Args{}},
		{"type short", []string{"-t", "tap"}, nil, config.Args{Type: ptr(config.DeviceTAP)}},
		{"type long upper", []string{"--type=TUN"}, nil, config.Args{Type: ptr(config.DeviceTUN)}},
		{"device", []string{"-d", "vpn%d", "--device-path", "/dev/x"}, nil, config.Args{Device: ptr("vpn%d"), DevicePath: ptr("/dev/x")}},
		{"device long", []string{"--device", "tun7"}, nil, config.Args{Device: ptr("tun7")}},
		{"fix-rp-filter", []string{"--fix-rp-filter"}, nil, config.Args{FixRPFilter: true}},
		{"mode", []string{"-m", "hub"}, nil, config.Args{Mode: ptr(config.ModeHub)}},
		{"mode long", []string{"--mode", "router"}, nil, config.Args{Mode: ptr(config.ModeRouter)}},
		{"password", []string{"-p", "pw"}, nil, config.Args{Password: ptr("pw")}},
		{"password long", []string{"--password", "pw"}, nil, config.Args{Password: ptr("pw")}},
		{"password env", nil, map[string]string{"PASSWORD": "envpw"}, config.Args{Password: ptr("envpw")}},
		{"password flag beats env", []string{"-p", "flag"}, map[string]string{"PASSWORD": "envpw"}, config.Args{Password: ptr("flag")}},
		{"private key", []string{"--private-key", "k"}, nil, config.Args{PrivateKey: ptr("k")}},
		{"private key alias", []string{"--key", "k"}, nil, config.Args{PrivateKey: ptr("k")}},
		{"private key env", nil, map[string]string{"PRIVATE_KEY": "ek"}, config.Args{PrivateKey: ptr("ek")}},
		{"private key flag beats env", []string{"--key", "k"}, map[string]string{"PRIVATE_KEY": "ek"}, config.Args{PrivateKey: ptr("k")}},
		{"public key", []string{"--public-key", "pk"}, nil, config.Args{PublicKey: ptr("pk")}},
		{"trusted keys", []string{"--trusted-key", "a,b", "--trust", "c", "--trusted-key=d"}, nil, config.Args{TrustedKeys: []string{"a", "b", "c", "d"}}},
		{"algorithms", []string{"--algorithm", "aes128", "--algo", "plain,chacha20"}, nil, config.Args{Algorithms: []string{"aes128", "plain", "chacha20"}}},
		{"claims", []string{"--claim", "10.0.0.0/8,fd00::/8", "--claim", "10.1.0.0/16"}, nil, config.Args{Claims: []string{"10.0.0.0/8", "fd00::/8", "10.1.0.0/16"}}},
		{"no-auto-claim", []string{"--no-auto-claim"}, nil, config.Args{NoAutoClaim: true}},
		{"listen", []string{"-l", "[::1]:1"}, nil, config.Args{Listen: ptr("[::1]:1")}},
		{"listen long", []string{"--listen=4000"}, nil, config.Args{Listen: ptr("4000")}},
		{"peers", []string{"-c", "a:1", "--peer", "b:2", "--connect", "c:3", "-c", "d,e:4"}, nil, config.Args{Peers: []string{"a:1", "b:2", "c:3", "d,e:4"}}},
		{"timeouts", []string{"--peer-timeout", "600", "--keepalive", "120", "--switch-timeout", "30"}, nil, config.Args{PeerTimeout: sec(600), Keepalive: sec(120), SwitchTO: sec(30)}},
		{"beacon", []string{"--beacon-store", "/s", "--beacon-load", "|cmd", "--beacon-interval", "60", "--beacon-password", "bp"}, nil,
			config.Args{BeaconStore: ptr("/s"), BeaconLoad: ptr("|cmd"), BeaconInterval: sec(60), BeaconPassword: ptr("bp")}},
		{"verbose", []string{"-v"}, nil, config.Args{Verbose: true}},
		{"verbose long", []string{"--verbose"}, nil, config.Args{Verbose: true}},
		{"quiet", []string{"-q"}, nil, config.Args{Quiet: true}},
		{"quiet long", []string{"--quiet"}, nil, config.Args{Quiet: true}},
		{"ip", []string{"--ip", "10.0.0.1/24"}, nil, config.Args{IP: ptr("10.0.0.1/24")}},
		{"advertise", []string{"--advertise-addresses", "1.2.3.4,5.6.7.8", "--advertise_addresses", "9.9.9.9"}, nil, config.Args{AdvertiseAddresses: []string{"1.2.3.4", "5.6.7.8", "9.9.9.9"}}},
		{"ifup ifdown", []string{"--ifup", "ip link set $IFNAME up", "--ifdown", "true"}, nil, config.Args{Ifup: ptr("ip link set $IFNAME up"), Ifdown: ptr("true")}},
		{"no-port-forwarding", []string{"--no-port-forwarding"}, nil, config.Args{NoPortForwarding: true}},
		{"daemon", []string{"--daemon", "--pid-file", "/run/p"}, nil, config.Args{Daemon: true, PIDFile: ptr("/run/p")}},
		{"stats", []string{"--stats-file", "/s", "--statsd-server", "h:1", "--statsd-prefix", "px"}, nil, config.Args{StatsFile: ptr("/s"), StatsdServer: ptr("h:1"), StatsdPrefix: ptr("px")}},
		{"user group", []string{"--user", "nobody", "--group", "nogroup"}, nil, config.Args{User: ptr("nobody"), Group: ptr("nogroup")}},
		{"log-file", []string{"--log-file", "/l"}, nil, config.Args{LogFile: ptr("/l")}},
		{"hooks", []string{"--hook", "echo all", "--hook", "peer_connected:echo a,b"}, nil, config.Args{Hooks: []string{"echo all", "peer_connected:echo a,b"}}},
		{"metrics", []string{"--metrics-listen", "127.0.0.1:9"}, nil, config.Args{MetricsListen: ptr("127.0.0.1:9")}},
		{"no-routes", []string{"--no-routes"}, nil, config.Args{NoRoutes: true}},
		{"no-relay", []string{"--no-relay"}, nil, config.Args{NoRelay: true}},
		{"offloads off", []string{"--no-tun-offload", "--no-udp-gso", "--no-udp-gro"}, nil, config.Args{NoTunOffload: true, NoUDPGSO: true, NoUDPGRO: true}},
		{"no device yield", []string{"--no-device-yield"}, nil, config.Args{NoDeviceYield: true}},
		{"no small lane", []string{"--no-small-lane"}, nil, config.Args{NoSmallLane: true}},
		{"no lane linger", []string{"--no-lane-linger"}, nil, config.Args{NoLaneLinger: true}},
		{"queues shards", []string{"--tun-queues", "2", "--udp-shards=4"}, nil, config.Args{TunQueues: ptr(2), UDPShards: ptr(4)}},
		{"lease", []string{"--port-forwarding-lease", "60"}, nil, config.Args{PortForwardingLease: ptr(60)}},
		{"socket buffer", []string{"--socket-buffer", "212992"}, nil, config.Args{SocketBuffer: ptr(212992)}},
		{"device queue", []string{"--device-queue-len", "2000"}, nil, config.Args{DeviceQueueLen: ptr(2000)}},
		{"empty string value is given", []string{"--ifup", ""}, nil, config.Args{Ifup: ptr("")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := parseCommandLine(tc.argv, envOf(tc.env))
			if err != nil {
				t.Fatalf("parse %q: %v", tc.argv, err)
			}
			if inv.sub != "" || inv.help || inv.version {
				t.Fatalf("unexpected mode %+v", inv)
			}
			if !reflect.DeepEqual(inv.args, tc.want) {
				t.Errorf("parse %q\n got %+v\nwant %+v", tc.argv, inv.args, tc.want)
			}
		})
	}
}

func TestParseFlagsOther(t *testing.T) {
	inv, err := parseCommandLine([]string{"--config", "/etc/x.net", "-p", "x"}, noEnv)
	if err != nil || inv.configFile != "/etc/x.net" {
		t.Errorf("--config: %+v %v", inv, err)
	}
	for _, h := range []string{"-h", "--help"} {
		inv, err = parseCommandLine([]string{"-p", "x", h}, noEnv)
		if err != nil || !inv.help {
			t.Errorf("%s: %+v %v", h, inv, err)
		}
	}
	inv, err = parseCommandLine([]string{"--version"}, noEnv)
	if err != nil || !inv.version {
		t.Errorf("--version: %+v %v", inv, err)
	}
}

func TestParseFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		env  map[string]string
		want string
	}{
		{[]string{"--bogus"}, nil, "unknown flag: --bogus"},
		{[]string{"-t", "eth"}, nil, `"eth" is not a device type`},
		{[]string{"-m", "bridge"}, nil, `"bridge" is not a mode`},
		{[]string{"--peer-timeout", "abc"}, nil, `invalid argument "abc" for "--peer-timeout" flag: not a number of seconds`},
		{[]string{"--peer-timeout", "70000"}, nil, "--peer-timeout"},
		{[]string{"--keepalive", "-1"}, nil, "--keepalive"},
		{[]string{"--switch-timeout", "1.5"}, nil, "--switch-timeout"},
		{[]string{"--tun-queues", "0"}, nil, `invalid argument "0" for "--tun-queues" flag: not a whole number from 1 to 256`},
		{[]string{"--udp-shards", "x"}, nil, `invalid argument "x" for "--udp-shards" flag: not a whole number from 1 to 64`},
		{[]string{"--socket-buffer", "-1"}, nil, `invalid argument "-1" for "--socket-buffer" flag: not a whole number from 1 to 268435456`},
		{[]string{"--device-queue-len", "70000"}, nil, `invalid argument "70000" for "--device-queue-len" flag: not a whole number from 1 to 65536`},
		{[]string{"--port-forwarding-lease", "0"}, nil, `invalid argument "0" for "--port-forwarding-lease" flag: not a whole number from 1 to 604800`},
		{[]string{"--beacon-interval", ""}, nil, "--beacon-interval"},
		{[]string{"--claim", "a,,b"}, nil, `empty item in "a,,b"`},
		{[]string{"-l"}, nil, "flag needs an argument"},
		{[]string{"-p", "x", "--key", "k"}, nil, "--password and --private-key cannot be used together"},
		{[]string{"-p", "x", "--private-key", "k"}, nil, "cannot be used together"},
		{[]string{"-v", "-q"}, nil, "--verbose and --quiet cannot be used together"},
		{[]string{"stray"}, nil, `unknown subcommand or stray argument "stray"`},
		{[]string{"migrate-config", "--config-file", "x"}, nil, `"migrate-config" is not supported`},
		{[]string{"genkey", "extra"}, nil, `unexpected argument "extra"`},
		{[]string{"genkey", "--bogus"}, nil, "unknown flag: --bogus"},
	} {
		_, err := parseCommandLine(tc.argv, envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parse %q: got %v, want %q", tc.argv, err, tc.want)
		}
	}
	// PASSWORD from the environment does not conflict with an explicit key.
	inv, err := parseCommandLine([]string{"--key", "k"}, envOf(map[string]string{"PASSWORD": "p"}))
	if err != nil || *inv.args.PrivateKey != "k" || *inv.args.Password != "p" {
		t.Errorf("env password with --key: %+v %v", inv, err)
	}
}

func TestParseGenkey(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		env  map[string]string
		want *string
	}{
		{[]string{"genkey"}, nil, nil},
		{[]string{"gen-key"}, nil, nil},
		{[]string{"genkey", "-p", "pw"}, nil, ptr("pw")},
		{[]string{"-v", "genkey", "--password", "pw"}, nil, ptr("pw")},
		{[]string{"genkey", "--password="}, nil, ptr("")},
		{[]string{"genkey"}, map[string]string{"PASSWORD": "env"}, ptr("env")},
		{[]string{"genkey", "-p", "flag"}, map[string]string{"PASSWORD": "env"}, ptr("flag")},
	} {
		inv, err := parseCommandLine(tc.argv, envOf(tc.env))
		if err != nil || inv.sub != "genkey" {
			t.Fatalf("parse %q: %+v %v", tc.argv, inv, err)
		}
		if !reflect.DeepEqual(inv.genkeyPassword, tc.want) {
			t.Errorf("parse %q: password %v, want %v", tc.argv, inv.genkeyPassword, tc.want)
		}
	}
	inv, err := parseCommandLine([]string{"genkey", "-h"}, noEnv)
	if err != nil || !inv.help || inv.sub != "genkey" {
		t.Errorf("genkey -h: %+v %v", inv, err)
	}
}

// Every flag of VpnCloud 2.3.0 (config.rs Args) and every alias is accepted;
// every visible flag is listed by --help with its default.
func TestHelpListsEveryFlag(t *testing.T) {
	var b strings.Builder
	inv, err := parseCommandLine([]string{"--help"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	inv.usage(&b)
	help := b.String()
	for _, f := range []string{
		"--config", "-t, --type", "-d, --device", "--device-path", "--fix-rp-filter", "-m, --mode",
		"-p, --password", "--private-key", "--public-key", "--trusted-key", "--algorithm", "--claim",
		"--no-auto-claim", "-l, --listen", "-c, --peer", "--peer-timeout", "--keepalive", "--switch-timeout",
		"--beacon-store", "--beacon-load", "--beacon-interval", "--beacon-password", "-v, --verbose",
		"-q, --quiet", "--ip", "--advertise-addresses", "--ifup", "--ifdown", "--version",
		"--no-port-forwarding", "--daemon", "--pid-file", "--stats-file", "--statsd-server",
		"--statsd-prefix", "--user", "--group", "--log-file", "--hook", "--metrics-listen", "--no-routes", "--no-relay",
		"--no-tun-offload", "--no-udp-gso", "--no-udp-gro", "--no-device-yield", "--no-small-lane", "--no-lane-linger", "--tun-queues", "--udp-shards",
		"--port-forwarding-lease", "--socket-buffer", "--device-queue-len", "alias --key", "alias --trust", "alias --algo", "alias --connect", "genkey",
	} {
		if !strings.Contains(help, f) {
			t.Errorf("--help lacks %q", f)
		}
	}
	for flag, def := range map[string]string{
		"--type": "tun", "--device": "vpncloud%d", "--mode": "normal", "--listen": "3210", "--peer-timeout": "300",
		"--keepalive": "peer-timeout/2-60", "--switch-timeout": "300", "--beacon-interval": "3600",
		"--statsd-prefix": "vpncloud", "--algorithm": "aes128,aes256,chacha20", "--device-path": "/dev/net/tun",
		"--tun-queues": "1", "--udp-shards": "1", "--port-forwarding-lease": "1800",
	} {
		line := lineWith(help, flag+" ")
		if !strings.Contains(line, "[default: "+def+"]") {
			t.Errorf("--help line for %s lacks its default %q: %q", flag, def, line)
		}
	}
	for _, hidden := range []string{"--key ", "--trust ", "--algo ", "--connect ", "--advertise_addresses"} {
		if strings.Contains(help, "  "+hidden) || strings.Contains(help, ", "+hidden) {
			t.Errorf("alias %q should be hidden", hidden)
		}
	}
}

func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
