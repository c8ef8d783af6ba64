package config

import (
	"errors"
	"math/big"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// VpnCloud's config_merge test: file values, then args over them.
func TestMergeLikeVpnCloud(t *testing.T) {
	c := mustParse(t, `
device:
  type: tun
  name: vpncloud%d
ifup: ifconfig $IFNAME 10.0.1.1/16 mtu 1400 up
ifdown: 'true'
peers: [remote.machine.foo:3210, remote.machine.bar:3210]
peer-timeout: 600
keepalive: 840
beacon: {store: /run/vpncloud.beacon.out, load: /run/vpncloud.beacon.in, interval: 7200, password: test123}
mode: normal
switch-timeout: 300
claims: [10.0.1.0/24]
auto-claim: true
port-forwarding: true
user: nobody
group: nogroup
pid-file: /run/vpncloud.run
stats-file: /var/log/vpncloud.stats
statsd: {server: "example.com:1234", prefix: prefix}
crypto:
  algorithms: [aes128]
  trusted-keys: [k1]
hooks: {vpn_started: a}
`)
	c.MergeArgs(&Args{
		Type:               ptr(DeviceTAP),
		Device:             ptr("vpncloud0"),
		DevicePath:         ptr("/dev/null"),
		Ifup:               ptr("ifconfig $IFNAME 10.0.1.2/16 mtu 1400 up"),
		Ifdown:             ptr("ifconfig $IFNAME down"),
		Password:           ptr("anothersecret"),
		Listen:             ptr("[::]:3211"),
		PeerTimeout:        ptr(1801 * time.Second),
		Keepalive:          ptr(850 * time.Second),
		SwitchTO:           ptr(301 * time.Second),
		BeaconStore:        ptr("/run/vpncloud.beacon.out2"),
		BeaconLoad:         ptr("/run/vpncloud.beacon.in2"),
		BeaconInterval:     ptr(3600 * time.Second),
		BeaconPassword:     ptr("test1234"),
		Mode:               ptr(ModeSwitch),
		Peers:              []string{"another:3210"},
		NoPortForwarding:   true,
		Daemon:             true,
		PIDFile:            ptr("/run/vpncloud-mynet.run"),
		StatsFile:          ptr("/var/log/vpncloud-mynet.stats"),
		StatsdServer:       ptr("example.com:2345"),
		StatsdPrefix:       ptr("prefix2"),
		User:               ptr("root"),
		Group:              ptr("root"),
		TrustedKeys:        []string{"k2"},
		Algorithms:         []string{"chacha20", "plain"},
		Hooks:              []string{"vpn_shutdown:echo a:b", "echo all"},
		Verbose:            true,
		LogFile:            ptr("/tmp/log"),
		MetricsListen:      ptr("127.0.0.1:1"),
		NoRelay:            true,
		NoTunOffload:       true,
		NoUDPGSO:           true,
		NoUDPGRO:           true,
		TunQueues:          ptr(2),
		UDPShards:          ptr(4),
		Claims:             []string{"10.0.2.0/24"},
		AdvertiseAddresses: []string{"1.2.3.4"},
		IP:                 ptr("10.0.1.2/16"),
		FixRPFilter:        true,
		NoAutoClaim:        true,
	})
	want := &Config{
		Device:             Device{Type: DeviceTAP, Name: "vpncloud0", Path: "/dev/null", FixRPFilter: true},
		IP:                 "10.0.1.2/16",
		AdvertiseAddresses: []string{"1.2.3.4"},
		Ifup:               "ifconfig $IFNAME 10.0.1.2/16 mtu 1400 up",
		Ifdown:             "ifconfig $IFNAME down",
		Crypto:             Crypto{Password: "anothersecret", TrustedKeys: []string{"k1", "k2"}, Algorithms: []string{"chacha20", "plain"}},
		Listen:             "[::]:3211",
		Peers:              []string{"remote.machine.foo:3210", "remote.machine.bar:3210", "another:3210"},
		PeerTimeout:        1801 * time.Second,
		Keepalive:          850 * time.Second,
		Beacon:             Beacon{Store: "/run/vpncloud.beacon.out2", Load: "/run/vpncloud.beacon.in2", Interval: 3600 * time.Second, Password: "test1234"},
		Mode:               ModeSwitch,
		SwitchTimeout:      301 * time.Second,
		Claims:             []string{"10.0.1.0/24", "10.0.2.0/24"},
		AutoClaim:          false,
		PortForwarding:     false,
		Daemonize:          true,
		PIDFile:            "/run/vpncloud-mynet.run",
		StatsFile:          "/var/log/vpncloud-mynet.stats",
		Statsd:             Statsd{Server: "example.com:2345", Prefix: "prefix2"},
		User:               "root",
		Group:              "root",
		Hook:               "echo all",
		Hooks:              map[string]string{"vpn_started": "a", "vpn_shutdown": "echo a:b"},
		LogFile:            "/tmp/log",
		Verbose:            true,
		Peercloud:          Peercloud{MetricsListen: "127.0.0.1:1", NoRelay: true, NoTunOffload: true, NoUDPGSO: true, NoUDPGRO: true, TunQueues: 2, UDPShards: 4},
	}
	got := *c
	got.where = nil
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("merged\n%+v\nwant\n%+v", &got, want)
	}
	// Empty Args change nothing.
	before := *c
	c.MergeArgs(&Args{})
	if !reflect.DeepEqual(before.Peers, c.Peers) || before.Listen != c.Listen || !reflect.DeepEqual(before.Crypto, c.Crypto) {
		t.Fatal("empty Args changed the config")
	}
}

func validBase() *Config {
	c := Default()
	c.Crypto.Password = "pw"
	return c
}

const (
	vecPriv = "UsVZe4U4C7eis0vKIKBOsL39kCHxn21E4erF7pj6Gwv"
	vecPub  = "ncceFR8d0oGOIOMgF4qH2SRDBodxBxqeQUh2sH8Zg1z"
	vecPub2 = "WHI7IZqrwgh6LWnt4B9Nh49hp3PVy1xRoPuS1BtUjbR"
)

func TestValidateErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src      string // config file, may be ""
		args     *Args
		mod      func(*Config)
		wantKey  string
		wantLine int
		wantFlag string
		sentinel error
		wantMsg  string
	}{
		{name: "no credentials", mod: func(c *Config) { c.Crypto.Password = "" }, wantKey: "crypto", sentinel: ErrMissing, wantMsg: "either crypto.password or crypto.private-key"},
		{name: "listen file", src: "listen: 'x:y:z'\n", wantKey: "listen", wantLine: 1, sentinel: ErrInvalidValue, wantMsg: `config: line 1: listen: "x:y:z" is not a port, IP:port or [IPv6]:port`},
		{name: "listen flag", args: &Args{Listen: ptr("70000")}, wantKey: "listen", wantFlag: "--listen", sentinel: ErrInvalidValue, wantMsg: `config: listen (flag --listen): "70000" is not a port, IP, IP:port or [IPv6]:port`},
		{name: "listen ws", src: "listen: ws://proxy:1\n", wantKey: "listen", wantLine: 1, sentinel: ErrInvalidValue, wantMsg: "websocket proxy is not supported"},
		{name: "peer", src: "peers:\n  - good:1\n  - 'bad host:1'\n", wantKey: "peers[1]", wantLine: 3, sentinel: ErrInvalidValue, wantMsg: `peers[1]: "bad host:1" is not host:port`},
		{name: "peer port", args: &Args{Peers: []string{"a:0"}}, wantKey: "peers[0]", wantFlag: "--peer", sentinel: ErrInvalidValue, wantMsg: "port must be 1-65535"},
		{name: "peer flag after file", src: "peers: [a]\n", args: &Args{Peers: []string{"b:x"}}, wantKey: "peers[1]", wantFlag: "--peer", sentinel: ErrInvalidValue},
		{name: "claim", src: "claims:\n  - 10.0.0.0/33\n", wantKey: "claims[0]", wantLine: 2, sentinel: ErrInvalidValue, wantMsg: "prefix length must be 0-32"},
		{name: "claim flag", args: &Args{Claims: []string{"foo"}}, wantKey: "claims[0]", wantFlag: "--claim", sentinel: ErrInvalidValue},
		{name: "ip", src: "ip: 10.0.0.1/40\n", wantKey: "ip", wantLine: 1, sentinel: ErrInvalidValue},
		{name: "ip v6", args: &Args{IP: ptr("fd00::1/64")}, wantKey: "ip", wantFlag: "--ip", sentinel: ErrInvalidValue, wantMsg: "IPv4"},
		{name: "advertise", src: "advertise-addresses: [nope]\n", wantKey: "advertise-addresses[0]", wantLine: 1, sentinel: ErrInvalidValue},
		{name: "algorithm", src: "crypto:\n  algorithms:\n    - aes128\n    - rot13\n", wantKey: "crypto.algorithms[1]", wantLine: 4, sentinel: ErrInvalidValue, wantMsg: `"rot13" is not an algorithm`},
		{name: "algorithm flag", args: &Args{Algorithms: []string{"des"}}, wantKey: "crypto.algorithms[0]", wantFlag: "--algorithm", sentinel: ErrInvalidValue},
		{name: "trusted key", src: "crypto:\n  trusted-keys: [abc]\n", wantKey: "crypto.trusted-keys[0]", wantLine: 2, sentinel: ErrInvalidValue, wantMsg: "3 digits, a 32-byte key has 42 or 43"},
		{name: "trusted key char", args: &Args{TrustedKeys: []string{vecPub + "!"}}, wantKey: "crypto.trusted-keys[0]", wantFlag: "--trusted-key", sentinel: ErrInvalidValue, wantMsg: "bad character"},
		{name: "private key", args: &Args{PrivateKey: ptr("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")}, wantKey: "crypto.private-key", wantFlag: "--private-key", sentinel: ErrInvalidValue},
		{name: "public key mismatch", src: "crypto:\n  private-key: " + vecPriv + "\n  public-key: " + vecPub2 + "\n", wantKey: "crypto.public-key", wantLine: 3, sentinel: ErrConflict, wantMsg: "does not belong"},
		{name: "public key alone", args: &Args{PublicKey: ptr(vecPub)}, wantKey: "crypto.public-key", wantFlag: "--public-key", sentinel: ErrConflict},
		{name: "peer-timeout small", args: &Args{PeerTimeout: ptr(time.Second)}, wantKey: "peer-timeout", wantFlag: "--peer-timeout", sentinel: ErrInvalidValue},
		{name: "keepalive zero", src: "keepalive: 0\n", wantKey: "keepalive", wantLine: 1, sentinel: ErrInvalidValue},
		{name: "keepalive long", args: &Args{Keepalive: ptr(300 * time.Second)}, wantKey: "keepalive", wantFlag: "--keepalive", sentinel: ErrConflict, wantMsg: "shorter than peer-timeout (300 s)"},
		{name: "switch-timeout", src: "switch-timeout: 0\n", wantKey: "switch-timeout", wantLine: 1, sentinel: ErrInvalidValue},
		{name: "beacon interval", args: &Args{BeaconInterval: ptr(time.Duration(0))}, wantKey: "beacon.interval", wantFlag: "--beacon-interval", sentinel: ErrInvalidValue},
		{name: "beacon pipe", src: "beacon:\n  store: '|'\n", wantKey: "beacon.store", wantLine: 2, sentinel: ErrInvalidValue},
		{name: "device name long", src: "device:\n  name: averyveryverylongname\n", wantKey: "device.name", wantLine: 2, sentinel: ErrInvalidValue, wantMsg: "Linux allows 15"},
		{name: "device name %s", args: &Args{Device: ptr("vpn%s")}, wantKey: "device.name", wantFlag: "--device", sentinel: ErrInvalidValue},
		{name: "device name slash", args: &Args{Device: ptr("a/b")}, wantKey: "device.name", wantFlag: "--device", sentinel: ErrInvalidValue},
		{name: "device name empty", src: "device:\n  name: ''\n", wantKey: "device.name", wantLine: 2, sentinel: ErrInvalidValue},
		{name: "statsd", src: "statsd:\n  server: example.com\n", wantKey: "statsd.server", wantLine: 2, sentinel: ErrInvalidValue, wantMsg: "no port"},
		{name: "hook event file", src: "hooks:\n  peer_conected: x\n", wantKey: "hooks.peer_conected", wantLine: 2, sentinel: ErrInvalidValue, wantMsg: "is not an event"},
		{name: "hook event flag", args: &Args{Hooks: []string{"echo a:b"}}, wantKey: "hooks.echo a", wantFlag: "--hook", sentinel: ErrInvalidValue},
		{name: "verbose quiet", args: &Args{Verbose: true, Quiet: true}, wantKey: "quiet", sentinel: ErrConflict},
		{name: "metrics", args: &Args{MetricsListen: ptr("localhost:x")}, wantKey: "peercloud.metrics-listen", wantFlag: "--metrics-listen", sentinel: ErrInvalidValue},
		{name: "tun-queues", args: &Args{TunQueues: ptr(257)}, wantKey: "peercloud.tun-queues", wantFlag: "--tun-queues", sentinel: ErrInvalidValue},
		{name: "udp-shards", args: &Args{UDPShards: ptr(-1)}, wantKey: "peercloud.udp-shards", wantFlag: "--udp-shards", sentinel: ErrInvalidValue},
		{name: "socket-buffer small", args: &Args{SocketBuffer: ptr(1000)}, wantKey: "peercloud.socket-buffer", wantFlag: "--socket-buffer", sentinel: ErrInvalidValue},
		{name: "device-queue-len huge", args: &Args{DeviceQueueLen: ptr(1 << 20)}, wantKey: "peercloud.device-queue-len", wantFlag: "--device-queue-len", sentinel: ErrInvalidValue},
		{name: "port-forwarding-lease", args: &Args{PortForwardingLease: ptr(-5)}, wantKey: "peercloud.port-forwarding-lease", wantFlag: "--port-forwarding-lease", sentinel: ErrInvalidValue},
		{name: "mode value", mod: func(c *Config) { c.Mode = 9 }, wantKey: "mode", sentinel: ErrInvalidValue},
		{name: "type value", mod: func(c *Config) { c.Device.Type = 9 }, wantKey: "device.type", sentinel: ErrInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validBase()
			if tc.src != "" {
				f, err := ParseFile([]byte(tc.src))
				if err != nil {
					t.Fatalf("ParseFile: %v", err)
				}
				c.MergeFile(f)
			}
			if tc.args != nil {
				c.MergeArgs(tc.args)
			}
			if tc.mod != nil {
				tc.mod(c)
			}
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("%v is not an *Error", err)
			}
			if ce.Key != tc.wantKey || ce.Line != tc.wantLine || ce.Flag != tc.wantFlag {
				t.Errorf("got key %q line %d flag %q, want %q %d %q (%v)", ce.Key, ce.Line, ce.Flag, tc.wantKey, tc.wantLine, tc.wantFlag, err)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("%v does not wrap %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("message %q lacks %q or the key", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("expected a single error, got %q", err)
			}
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	c := Default()
	c.Listen = "bad:port:x"
	c.Claims = []string{"x"}
	err := c.Validate()
	for _, key := range []string{"crypto:", "listen:", "claims[0]:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v lacks %s", err, key)
		}
	}
}

func TestValidConfigs(t *testing.T) {
	for name, a := range map[string]*Args{
		"keys":      {PrivateKey: ptr(vecPriv), PublicKey: ptr(vecPub), TrustedKeys: []string{vecPub, vecPub2}},
		"addresses": {Password: ptr("x"), Listen: ptr("*:3210"), Peers: []string{"[fd00::1]:3210", "fd00::2", "10.0.0.1", "host.example.", "a_b.c:1"}, AdvertiseAddresses: []string{"1.2.3.4", "[::1]:9"}},
		"claims":    {Password: ptr("x"), Claims: []string{"10.0.0.0/8", "fd00::/64", "10.1.1.1", "02:00:00:00:00:01/48"}, IP: ptr("10.0.0.1")},
		"hooks":     {Password: ptr("x"), Hooks: []string{"peer_connected:echo $PEER", "vpn_started:x"}, StatsdServer: ptr("[::1]:8125")},
		"tap":       {Password: ptr("x"), Type: ptr(DeviceTAP), Mode: ptr(ModeHub), Device: ptr("tap%d"), Keepalive: ptr(299 * time.Second)},
	} {
		c := Default()
		c.MergeArgs(a)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestKeepaliveInterval(t *testing.T) {
	for _, tc := range []struct{ pt, ka, want int }{
		{300, 0, 90}, {600, 0, 240}, {122, 0, 1}, {120, 0, 1}, {2, 0, 1}, {124, 0, 2}, {300, 17, 17},
	} {
		c := Default()
		c.PeerTimeout = time.Duration(tc.pt) * time.Second
		c.Keepalive = time.Duration(tc.ka) * time.Second
		if got := c.KeepaliveInterval(); got != time.Duration(tc.want)*time.Second {
			t.Errorf("peer-timeout %d keepalive %d: got %v, want %ds", tc.pt, tc.ka, got, tc.want)
		}
	}
}

func TestHelpers(t *testing.T) {
	c := Default()
	if c.StatsdPrefix() != "vpncloud" {
		t.Errorf("default statsd prefix %q", c.StatsdPrefix())
	}
	c.Statsd.Prefix = "p"
	if c.StatsdPrefix() != "p" {
		t.Error("statsd prefix not used")
	}
	c.Hook = "all"
	c.Hooks = map[string]string{"vpn_started": "one"}
	if c.HookFor("vpn_started") != "one" || c.HookFor("peer_connected") != "all" {
		t.Error("HookFor")
	}
	c.Peers = []string{"a", "[::1]", "b:7"}
	c.Claims = []string{"10.0.0.0/8"}
	c.Crypto.Algorithms = []string{"AES_256_GCM"}
	peers, err := c.PeerAddresses()
	if err != nil || !reflect.DeepEqual(peers, []string{"a:3210", "[::1]:3210", "b:7"}) {
		t.Errorf("PeerAddresses = %q, %v", peers, err)
	}
	claims, err := c.ClaimList()
	if err != nil || len(claims) != 1 || claims[0].String() != "10.0.0.0/8" {
		t.Errorf("ClaimList = %v, %v", claims, err)
	}
	algos, err := c.AlgorithmSet()
	if err != nil || algos != (Algorithms{AES256: true}) {
		t.Errorf("AlgorithmSet = %+v, %v", algos, err)
	}
	la, err := c.ListenAddr()
	if err != nil || la != netip.MustParseAddrPort("[::]:3210") {
		t.Errorf("ListenAddr = %v, %v", la, err)
	}
	c.Claims = []string{"bad"}
	if _, err := c.ClaimList(); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("ClaimList(bad) = %v", err)
	}
	c.Peers = []string{"a b"}
	if _, err := c.PeerAddresses(); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("PeerAddresses(bad) = %v", err)
	}
	if Mode(0).Effective(DeviceTAP) != ModeSwitch || Mode(0).Effective(DeviceTUN) != ModeRouter || ModeHub.Effective(DeviceTUN) != ModeHub {
		t.Error("Mode.Effective")
	}
	for _, m := range []Mode{ModeNormal, ModeRouter, ModeSwitch, ModeHub} {
		if p, err := ParseMode(strings.ToUpper(m.String())); err != nil || p != m {
			t.Errorf("ParseMode(%v) = %v, %v", m, p, err)
		}
	}
	for _, d := range []DeviceType{DeviceTUN, DeviceTAP} {
		if p, err := ParseDeviceType(d.String()); err != nil || p != d {
			t.Errorf("ParseDeviceType(%v) = %v, %v", d, p, err)
		}
	}
	if Mode(9).String() != "Mode(9)" || DeviceType(9).String() != "DeviceType(9)" {
		t.Error("String of unknown enum values")
	}
}

func TestParseListen(t *testing.T) {
	for in, want := range map[string]string{
		"3210": "[::]:3210", "*:4000": "[::]:4000", "0": "[::]:0", "1.2.3.4:5": "1.2.3.4:5",
		"[fd00::1]:6": "[fd00::1]:6", "10.0.0.1": "10.0.0.1:77",
	} {
		got, err := ParseListen(in, 77)
		if err != nil || got.String() != want {
			t.Errorf("ParseListen(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "65536", "+1", "*:x", "x", "1.2.3.4:", "fd00::1", "host:1", "ws://a"} {
		if _, err := ParseListen(in, 1); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseListen(%q) accepted or wrong error: %v", in, err)
		}
	}
}

func TestPeerAddress(t *testing.T) {
	for in, want := range map[string]string{
		"a.example.com:1": "a.example.com:1", "a": "a:3210", "10.0.0.1": "10.0.0.1:3210",
		"[fd00::1]": "[fd00::1]:3210", "[fd00::1]:9": "[fd00::1]:9", "fd00::1": "[fd00::1]:3210",
		"under_score:2": "under_score:2", "trailing.dot.:3": "trailing.dot.:3",
	} {
		got, err := PeerAddress(in)
		if err != nil || got != want {
			t.Errorf("PeerAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":1", "a:", "a:x", "a:70000", "a:0", "[::1", "[::1]x", "[::1]:", "[1.2.3.4]:1",
		"-a:1", "a..b", "a b", "300.1.1.1.1:x", strings.Repeat("a", 64) + ":1", "a:b:c"} {
		if _, err := PeerAddress(in); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("PeerAddress(%q) accepted or wrong error: %v", in, err)
		}
	}
}

func TestParseClaim(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.1.0/24": "10.1.1.0/24", "10.1.1.1": "10.1.1.1/32", "fd00::/8": "fd00::/8", "::1": "::1/128",
		"02:00:00:00:00:01/48": "02:00:00:00:00:01/48", "2:0:0:0:0:1/8": "02:00:00:00:00:01/8", "0.0.0.0/0": "0.0.0.0/0",
	} {
		got, err := ParseClaim(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseClaim(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	mac, _ := ParseClaim("02:00:00:00:00:01/48")
	if _, ok := mac.Prefix(); ok || mac.Len != 6 || mac.PrefixLen != 48 {
		t.Errorf("MAC claim %+v", mac)
	}
	v4, _ := ParseClaim("10.0.0.0/8")
	if v4.Len != 4 || v4.Base[0] != 10 || v4.PrefixLen != 8 {
		t.Errorf("IPv4 claim %+v", v4)
	}
	for _, in := range []string{"", "/8", "10.0.0.0/", "10.0.0.0/33", "fd00::/129", "02:00:00:00:00:01", "02:00:00:00:00:01/49",
		"02:00:00:00:00/8", "002:00:00:00:00:01/8", "fe80::1%eth0/64", "10.0.0.0/-1", "10.0.0.0/8/8", "gg:00:00:00:00:01/8"} {
		if _, err := ParseClaim(in); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseClaim(%q) accepted or wrong error: %v", in, err)
		}
	}
	if (Claim{Len: 3}).String() != "Claim(len 3)" {
		t.Error("String of a malformed claim")
	}
}

func TestParseDeviceIP(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1": "10.0.0.1/24", "10.0.0.1/16": "10.0.0.1/16", "10.0.0.1/32": "10.0.0.1/32"} {
		got, err := ParseDeviceIP(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseDeviceIP(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "10.0.0.1/33", "10.0.0.1/", "fd00::1", "x/8", "10.0.0/8"} {
		if _, err := ParseDeviceIP(in); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseDeviceIP(%q) = %v", in, err)
		}
	}
}

func TestParseAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want Algorithms
	}{
		{nil, DefaultAlgorithms},
		{[]string{"plain"}, Algorithms{Plain: true}},
		{[]string{"UNENCRYPTED", "none"}, Algorithms{Plain: true}},
		{[]string{"aes128", "AES128_GCM", "aes_128", "AES_128_GCM"}, Algorithms{AES128: true}},
		{[]string{"aes256", "AES256_GCM", "aes_256", "AES_256_GCM"}, Algorithms{AES256: true}},
		{[]string{"chacha", "ChaCha20", "CHACHA20_POLY1305"}, Algorithms{ChaCha20: true}},
	} {
		got, err := ParseAlgorithms(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAlgorithms(%q) = %+v, %v", tc.in, got, err)
		}
	}
	if _, err := ParseAlgorithms([]string{"aes"}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("unknown algorithm: %v", err)
	}
}

// Key pairs printed by a real `vpncloud genkey` (shared/interop).
var genkeyVectors = [][2]string{
	{"UsVZe4U4C7eis0vKIKBOsL39kCHxn21E4erF7pj6Gwv", "ncceFR8d0oGOIOMgF4qH2SRDBodxBxqeQUh2sH8Zg1z"},
	{"GbTMQqlHoyDDO9EYYKg129gX7KMUpxPM7W6sLak25pF", "WHI7IZqrwgh6LWnt4B9Nh49hp3PVy1xRoPuS1BtUjbR"},
	{"fIsMzCxbOvDKvxRf886e68pumYMMIe7XyAzIKhvyNLm", "trubl4FNKqKG1532bi0hjviXes17vxCIjKF0B7ikrob"},
	{"cX0omtNtLbTymwxaf8odUZIuOYebfCsgxB2MflPxAeN", "flN5YEoeMYZldxcfFm8nQ2rmJAeaSIilWcWCG7WD9lZ"},
}

func TestDecodeKeyVpnCloudVectors(t *testing.T) {
	for _, v := range genkeyVectors {
		priv, err := DecodeKey(v[0])
		if err != nil {
			t.Fatalf("DecodeKey(%s): %v", v[0], err)
		}
		pub, err := DecodeKey(v[1])
		if err != nil {
			t.Fatalf("DecodeKey(%s): %v", v[1], err)
		}
		if publicKeyOf(priv) != pub {
			t.Errorf("public key of %s does not match VpnCloud's %s", v[0], v[1])
		}
	}
	for _, in := range []string{"", "0", "1Xp7Ke", strings.Repeat("z", 44), strings.Repeat("1", 65), vecPub[:42] + "-"} {
		if _, err := DecodeKey(in); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("DecodeKey(%q) = %v", in, err)
		}
	}
}

// refDecode is a naive reference for base62 using math/big.
func refDecode(s string) ([]byte, bool) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	n := new(big.Int)
	for _, r := range s {
		i := strings.IndexRune(alphabet, r)
		if i < 0 {
			return nil, false
		}
		n.Mul(n, big.NewInt(62)).Add(n, big.NewInt(int64(i)))
	}
	return n.Bytes(), true
}

func FuzzDecodeKey(f *testing.F) {
	for _, v := range genkeyVectors {
		f.Add(v[0])
		f.Add(v[1])
	}
	f.Add("zzz")
	f.Add("0" + strings.Repeat("1", 41)) // 42 digits, 31 bytes: a real key with a zero top byte
	f.Fuzz(func(t *testing.T, s string) {
		got, err := DecodeKey(s)
		want, ok := refDecode(s)
		wantOK := ok && len(s) >= 42 && len(s) <= 43 && len(want) <= KeyLen
		if (err == nil) != wantOK {
			t.Fatalf("DecodeKey(%q) err=%v, reference ok=%v len=%d", s, err, ok, len(want))
		}
		if len(want) < KeyLen {
			want = append(make([]byte, KeyLen-len(want)), want...)
		}
		if err == nil && string(got[:]) != string(want) {
			t.Fatalf("DecodeKey(%q) = %x, reference %x", s, got, want)
		}
	})
}

func FuzzParseHelpers(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "[::1]:1", "*:1", "02:00:00:00:00:01/48", "host:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseListen(s, 1)
		_, _ = PeerAddress(s)
		_, _ = ParseClaim(s)
		_, _ = ParseDeviceIP(s)
		_ = checkDeviceName(s)
		_, _ = ParseSeconds(s, 1)
	})
}
