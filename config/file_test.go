package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	f, err := ParseFile([]byte(src))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	c := Default()
	c.MergeFile(f)
	return c
}

func TestExampleConfigParses(t *testing.T) {
	f, err := LoadFile(filepath.Join("testdata", "example.net.disabled"))
	if err != nil {
		t.Fatalf("VpnCloud's example config: %v", err)
	}
	c := Default()
	c.MergeFile(f)
	if c.Listen != "3210" {
		t.Errorf("listen = %q, want 3210 (an int scalar in the file)", c.Listen)
	}
	if want := []string{"node2.example.com:3210", "node3.example.com:3210"}; !reflect.DeepEqual(c.Peers, want) {
		t.Errorf("peers = %q, want %q", c.Peers, want)
	}
	if c.Device.Name != "vpncloud%d" || c.Device.Path != "/dev/net/tun" || c.Device.Type != DeviceTUN || c.Device.FixRPFilter {
		t.Errorf("device = %+v", c.Device)
	}
	if c.PeerTimeout != 300*time.Second || c.Keepalive != 0 || c.Beacon.Interval != 3600*time.Second || c.SwitchTimeout != 300*time.Second {
		t.Errorf("timings = %v %v %v %v", c.PeerTimeout, c.Keepalive, c.Beacon.Interval, c.SwitchTimeout)
	}
	if len(c.Claims) != 0 || len(c.Crypto.TrustedKeys) != 0 || c.Crypto.Password != "" || len(c.Hooks) != 0 {
		t.Errorf("nulls and empty lists must leave defaults: %+v", c)
	}
	// The example has no password; everything else must be valid.
	err = c.Validate()
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "crypto" || !errors.Is(err, ErrMissing) || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("Validate = %v, want only the missing-credentials error", err)
	}
	c.Crypto.Password = "secret"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate with password: %v", err)
	}
}

// The file of VpnCloud's own config_file test.
const vpncloudTestFile = `
device:
  type: tun
  name: vpncloud%d
  path: /dev/net/tun
ip: 10.0.1.1/16
advertise-addresses:
  - 192.168.0.1
  - 192.168.1.1
ifup: ifconfig $IFNAME 10.0.1.1/16 mtu 1400 up
ifdown: 'true'
peers:
  - remote.machine.foo:3210
  - remote.machine.bar:3210
peer-timeout: 600
keepalive: 840
switch-timeout: 300
beacon:
  store: /run/vpncloud.beacon.out
  load: /run/vpncloud.beacon.in
  interval: 3600
  password: test123
mode: normal
claims:
  - 10.0.1.0/24
port-forwarding: true
user: nobody
group: nogroup
pid-file: /run/vpncloud.run
stats-file: /var/log/vpncloud.stats
statsd:
  server: example.com:1234
  prefix: prefix
crypto:
  password: pw
  algorithms: [aes256, CHACHA20_POLY1305]
hook: echo all
hooks:
  peer_connected: echo connected
peercloud:
  metrics-listen: 127.0.0.1:9100
  no-routes: true
  no-relay: true
  no-tun-offload: yes
  no-udp-gso: true
  no-udp-gro: on
  no-device-yield: true
  no-small-lane: true
  no-lane-linger: true
  tun-queues: 2
  udp-shards: 3
  port-forwarding-lease: 600
  socket-buffer: 262144
  device-queue-len: 2000
`

func TestVpnCloudConfigFile(t *testing.T) {
	c := mustParse(t, vpncloudTestFile)
	want := Default()
	want.Device = Device{Type: DeviceTUN, Name: "vpncloud%d", Path: "/dev/net/tun"}
	want.IP = "10.0.1.1/16"
	want.AdvertiseAddresses = []string{"192.168.0.1", "192.168.1.1"}
	want.Ifup = "ifconfig $IFNAME 10.0.1.1/16 mtu 1400 up"
	want.Ifdown = "true"
	want.Peers = []string{"remote.machine.foo:3210", "remote.machine.bar:3210"}
	want.PeerTimeout = 600 * time.Second
	want.Keepalive = 840 * time.Second
	want.SwitchTimeout = 300 * time.Second
	want.Beacon = Beacon{Store: "/run/vpncloud.beacon.out", Load: "/run/vpncloud.beacon.in", Interval: 3600 * time.Second, Password: "test123"}
	want.Claims = []string{"10.0.1.0/24"}
	want.User, want.Group = "nobody", "nogroup"
	want.PIDFile, want.StatsFile = "/run/vpncloud.run", "/var/log/vpncloud.stats"
	want.Statsd = Statsd{Server: "example.com:1234", Prefix: "prefix"}
	want.Crypto = Crypto{Password: "pw", Algorithms: []string{"aes256", "CHACHA20_POLY1305"}}
	want.Hook = "echo all"
	want.Hooks = map[string]string{"peer_connected": "echo connected"}
	want.Peercloud.MetricsListen = "127.0.0.1:9100"
	want.Peercloud.NoRoutes = true
	want.Peercloud.NoRelay = true
	want.Peercloud.NoTunOffload, want.Peercloud.NoUDPGSO, want.Peercloud.NoUDPGRO, want.Peercloud.NoDeviceYield = true, true, true, true
	want.Peercloud.NoSmallLane, want.Peercloud.NoLaneLinger = true, true
	want.Peercloud.TunQueues, want.Peercloud.UDPShards = 2, 3
	want.Peercloud.PortForwardingLease = 600
	want.Peercloud.SocketBuffer = 262144
	want.Peercloud.DeviceQueueLen = 2000
	c.where, want.where = nil, nil
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", c, want)
	}
	// keepalive 840 >= peer-timeout 600 is refused (VpnCloud accepts it).
	c = mustParse(t, vpncloudTestFile)
	err := c.Validate()
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "keepalive" || ce.Line != 16 || !errors.Is(err, ErrConflict) {
		t.Fatalf("Validate = %v, want keepalive error on line 16", err)
	}
	c.Keepalive = 100 * time.Second
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      string // the exact message
		sentinel  error
	}{
		{"peer-timeout text", "listen: 3210\npeers: []\ncrypto:\n  password: x\nip: ~\nmode: normal\npeer-timeout: abc\n",
			`config: line 7: peer-timeout: "abc" is not a number of seconds`, ErrWrongType},
		{"unknown top key", "listen: 1\nfoo: bar\n", `config: line 2: foo: unknown key; known keys here: advertise-addresses, auto-claim, beacon, claims, crypto, device, group, hook, hooks, ifdown, ifup, ip, keepalive, listen, mode, peer-timeout, peercloud, peers, pid-file, port-forwarding, stats-file, statsd, switch-timeout, user`, ErrUnknownKey},
		{"underscore key", "peer_timeout: 600\n", `config: line 1: peer_timeout: unknown key; did you mean "peer-timeout"? (VpnCloud 2.x keys use dashes)`, ErrUnknownKey},
		{"unknown nested", "crypto:\n  password: x\n  pasword: y\n", `config: line 3: crypto.pasword: unknown key; known keys here: algorithms, password, private-key, public-key, trusted-keys`, ErrUnknownKey},
		{"duplicate", "listen: 1\nlisten: 2\n", `config: line 2: listen: given twice (first on line 1)`, ErrDuplicateKey},
		{"bad mode", "mode: bridge\n", `config: line 1: mode: "bridge" is not a mode (normal, router, switch or hub)`, ErrInvalidValue},
		{"bad type", "device:\n  type: tan\n", `config: line 2: device.type: "tan" is not a device type (tun or tap)`, ErrInvalidValue},
		{"list as string", "peers: a:1\n", `config: line 1: peers: must be a list (items starting with "- ", or [] for none), not "a:1"`, ErrWrongType},
		{"map as string", "device: tun\n", `config: line 1: device: must be a mapping of keys to values, not "tun"`, ErrWrongType},
		{"string as list", "listen: [1, 2]\n", `config: line 1: listen: must be a string, not a list`, ErrWrongType},
		{"list item map", "claims:\n  - a: b\n", `config: line 2: claims[0]: must be a string, not a mapping`, ErrWrongType},
		{"null list item", "claims:\n  - 10.0.0.0/8\n  - ~\n", `config: line 3: claims[1]: an empty list item`, ErrInvalidValue},
		{"bool", "auto-claim: maybe\n", `config: line 1: auto-claim: "maybe" is not true or false`, ErrWrongType},
		{"negative", "switch-timeout: -5\n", `config: line 1: switch-timeout: "-5" is not a number of seconds`, ErrWrongType},
		{"peer-timeout u16", "peer-timeout: 70000\n", `config: line 1: peer-timeout: 70000 seconds is more than the maximum of 65535`, ErrInvalidValue},
		{"beacon interval", "beacon:\n  interval: 1h\n", `config: line 2: beacon.interval: "1h" is not a number of seconds`, ErrWrongType},
		{"hooks not map", "hooks: [a]\n", `config: line 1: hooks: must be a mapping of event names to scripts, not a list`, ErrWrongType},
		{"hook dup", "hooks:\n  vpn_started: a\n  vpn_started: b\n", `config: line 3: hooks.vpn_started: given twice`, ErrDuplicateKey},
		{"top list", "- a\n- b\n", `config: line 1: must be a mapping of keys to values, not a list`, ErrWrongType},
		{"two docs", "listen: 1\n---\nlisten: 2\n", `config: line 3: a second YAML document; a config file holds one`, ErrSyntax},
		{"syntax", "listen: [1\n", "config: line 1: did not find expected ',' or ']'", ErrSyntax},
		{"peercloud unknown", "peercloud:\n  relay: true\n", `config: line 2: peercloud.relay: unknown key; known keys here: device-queue-len, log-level, metrics-listen, no-device-yield, no-lane-linger, no-relay, no-routes, no-small-lane, no-tun-offload, no-udp-gro, no-udp-gso, port-forwarding-lease, socket-buffer, tun-queues, udp-shards`, ErrUnknownKey},
		{"tun-queues zero", "peercloud:\n  tun-queues: 0\n", `config: line 2: peercloud.tun-queues: 0 is not between 1 and 256`, ErrInvalidValue},
		{"udp-shards many", "peercloud:\n  udp-shards: 65\n", `config: line 2: peercloud.udp-shards: 65 is not between 1 and 64`, ErrInvalidValue},
		{"udp-shards word", "peercloud:\n  udp-shards: two\n", `config: line 2: peercloud.udp-shards: "two" is not a whole number`, ErrWrongType},
		{"lease too long", "peercloud:\n  port-forwarding-lease: 604801\n", `config: line 2: peercloud.port-forwarding-lease: 604801 is not between 1 and 604800`, ErrInvalidValue},
		{"socket buffer huge", "peercloud:\n  socket-buffer: 1073741824\n", `config: line 2: peercloud.socket-buffer: 1073741824 is not between 1 and 268435456`, ErrInvalidValue},
		{"device queue zero", "peercloud:\n  device-queue-len: 0\n", `config: line 2: peercloud.device-queue-len: 0 is not between 1 and 65536`, ErrInvalidValue},
		{"log level", "peercloud:\n  log-level: loud\n", `config: line 2: peercloud.log-level: "loud" is not a log level (debug, info, warn or error)`, ErrInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tc.src))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tc.sentinel)
			}
			if tc.sentinel == ErrSyntax {
				if !strings.Contains(err.Error(), tc.want) && !strings.HasPrefix(err.Error(), "config: ") {
					t.Errorf("got %q, want it to contain %q", err, tc.want)
				}
				return
			}
			if err.Error() != tc.want {
				t.Errorf("got  %q\nwant %q", err, tc.want)
			}
		})
	}
}

func TestFileNullsAndEmpty(t *testing.T) {
	for _, src := range []string{"", "~\n", "# only a comment\n", "device: ~\nbeacon:\nstatsd: ~\ncrypto:\n"} {
		c := mustParse(t, src)
		c.where = nil
		d := Default()
		d.where = nil
		if !reflect.DeepEqual(c, d) {
			t.Errorf("%q changed the defaults: %+v", src, c)
		}
	}
}

func TestFileAliasesAndBools(t *testing.T) {
	c := mustParse(t, "peers: &p\n  - a:1\n  - b\nclaims: *p\nauto-claim: no\nport-forwarding: false\ndevice:\n  fix-rp-filter: yes\n")
	if !reflect.DeepEqual(c.Claims, []string{"a:1", "b"}) || c.AutoClaim || c.PortForwarding || !c.Device.FixRPFilter {
		t.Fatalf("got %+v", c)
	}
}

func TestFileAlgorithmsReplaceListsAppend(t *testing.T) {
	f1, err := ParseFile([]byte("peers: [a]\ncrypto:\n  algorithms: [aes128]\n  trusted-keys: [k1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	f2, err := ParseFile([]byte("peers: [b]\ncrypto:\n  algorithms: [plain]\n  trusted-keys: [k2]\nhooks:\n  vpn_started: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	f3, err := ParseFile([]byte("crypto:\n  algorithms: []\nhooks:\n  vpn_shutdown: y\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.MergeFile(f1)
	c.MergeFile(f2)
	c.MergeFile(f3)
	if !reflect.DeepEqual(c.Peers, []string{"a", "b"}) || !reflect.DeepEqual(c.Crypto.TrustedKeys, []string{"k1", "k2"}) {
		t.Errorf("lists must append: %q %q", c.Peers, c.Crypto.TrustedKeys)
	}
	if !reflect.DeepEqual(c.Crypto.Algorithms, []string{"plain"}) {
		t.Errorf("algorithms = %q, want the last non-empty list", c.Crypto.Algorithms)
	}
	if !reflect.DeepEqual(c.Hooks, map[string]string{"vpn_started": "x", "vpn_shutdown": "y"}) {
		t.Errorf("hooks = %v", c.Hooks)
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadFile(filepath.Join(dir, "missing.net")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(dir, "bad.net")
	if err := os.WriteFile(p, []byte("listen: 1\nbogus: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 2: bogus") || !errors.Is(err, ErrUnknownKey) {
		t.Errorf("got %v, want the path, line and key", err)
	}
	big := filepath.Join(dir, "big.net")
	if err := os.WriteFile(big, make([]byte, maxFileSize+2), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(big); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("oversized file: %v", err)
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add(vpncloudTestFile)
	if b, err := os.ReadFile(filepath.Join("testdata", "example.net.disabled")); err == nil {
		f.Add(string(b))
	}
	f.Add("peers: &a [*a]\n")
	f.Add("hooks: {a: [1]}\n")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := ParseFile([]byte(src))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		c := Default()
		c.MergeFile(file)
		_ = c.Validate() // must not panic
	})
}
