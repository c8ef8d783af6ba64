package bench

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"
	"gopkg.in/yaml.v3"
)

func TestValidate(t *testing.T) {
	ok := []Contender{PeercloudContender("/bin/true", "aes128"), WireguardGoContender("/bin/wg-go", "/bin/wg"), NebulaContender("/bin/nebula", "/bin/nebula-cert"), VpncloudContender("/bin/vc", "plain")}
	if err := validate(ok); err != nil {
		t.Fatal(err)
	}
	for name, cs := range map[string][]Contender{
		"none":          nil,
		"twice":         {PeercloudContender("/x", "aes128"), PeercloudContender("/x", "aes128")},
		"bad cipher":    {PeercloudContender("/x", "rot13")},
		"no binary":     {PeercloudContender("", "aes128")},
		"no wg tool":    {WireguardGoContender("/x", "")},
		"no nebulacert": {NebulaContender("/x", "")},
		"unknown kind":  {{Name: "tinc", Kind: "tinc", Bin: "/x"}},
	} {
		if err := validate(cs); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: error %v, want ErrConfig", name, err)
		}
	}
}

func TestCheckToolsNamesThePackage(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "nebula-cert")
	os.WriteFile(notExec, []byte("x"), 0o644)
	for _, c := range []struct {
		cs   []Contender
		want string
	}{
		{[]Contender{PeercloudContender(filepath.Join(dir, "nope"), "aes128")}, "peercloud-aes128 binary"},
		{[]Contender{WireguardGoContender("/bin/sh", filepath.Join(dir, "wg"))}, "apt-get install -y wireguard-tools"},
		{[]Contender{NebulaContender("/bin/sh", notExec)}, "apt-get install -y nebula"},
	} {
		err := CheckTools(c.cs)
		if !errors.Is(err, ErrMissingTool) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckTools: %v, want ErrMissingTool naming %q", err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("the message should be one line: %q", err)
		}
	}
}

func TestCheckToolsMissingBaseTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := CheckTools(nil)
	if !errors.Is(err, ErrMissingTool) || !strings.Contains(err.Error(), "apt-get install -y iproute2") {
		t.Fatalf("with an empty PATH: %v, want the apt-get command for ip", err)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Duration != 5*time.Second || o.Streams != 4 || o.PingCount != 200 || o.TunnelTimeout != 20*time.Second || o.Prefix != "pcbench" {
		t.Fatalf("defaults %+v", o)
	}
	s := SmokeOptions().withDefaults()
	if s.Duration != time.Second || s.PingCount > 50 || s.Prefix != "pcbench" {
		t.Fatalf("smoke %+v", s)
	}
}

func TestDeviceNamesFitAndDiffer(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range []Kind{KindPeercloud, KindWireguardGo, KindNebula, KindVpncloud} {
		for _, n := range []string{"a", "b"} {
			d := devName(k, n)
			if len(d) > 15 || seen[d] {
				t.Errorf("device %q: too long for IFNAMSIZ or not unique", d)
			}
			seen[d] = true
		}
	}
}

func TestWireguardKeyPair(t *testing.T) {
	priv, pub, err := wgKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	k, err1 := base64.StdEncoding.DecodeString(priv)
	p, err2 := base64.StdEncoding.DecodeString(pub)
	if err1 != nil || err2 != nil || len(k) != 32 || len(p) != 32 {
		t.Fatalf("keys %q %q", priv, pub)
	}
	if k[0]&7 != 0 || k[31]&128 != 0 || k[31]&64 == 0 {
		t.Error("private key not clamped as wg genkey does")
	}
	want, _ := curve25519.X25519(k, curve25519.Basepoint)
	if !bytes.Equal(p, want) {
		t.Error("public key does not belong to the private key")
	}
	priv2, _, _ := wgKeyPair()
	if priv2 == priv {
		t.Error("two key pairs are equal")
	}
}

func TestNebulaConfig(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		var cfg struct {
			PKI           map[string]string   `yaml:"pki"`
			StaticHostMap map[string][]string `yaml:"static_host_map"`
			Lighthouse    struct {
				AmLighthouse bool     `yaml:"am_lighthouse"`
				Hosts        []string `yaml:"hosts"`
			} `yaml:"lighthouse"`
			Listen struct {
				Port int `yaml:"port"`
			} `yaml:"listen"`
			Tun struct {
				Dev string `yaml:"dev"`
			} `yaml:"tun"`
			Firewall struct {
				Inbound  []map[string]string `yaml:"inbound"`
				Outbound []map[string]string `yaml:"outbound"`
			} `yaml:"firewall"`
		}
		text := nebulaConfig("/d/ca.crt", "/d/"+name+".crt", "/d/"+name+".key", "nebpc"+name, name)
		if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
			t.Fatalf("node %s: %v\n%s", name, err, text)
		}
		peer := other[name]
		if cfg.PKI["cert"] != "/d/"+name+".crt" || cfg.Tun.Dev != "nebpc"+name || cfg.Listen.Port != 4242 {
			t.Errorf("node %s: %+v", name, cfg)
		}
		if got := cfg.StaticHostMap[overlay[peer]]; len(got) != 1 || got[0] != underlay[peer]+":4242" {
			t.Errorf("node %s: static_host_map %v", name, cfg.StaticHostMap)
		}
		if cfg.Lighthouse.AmLighthouse != (name == "b") || (name == "a" && (len(cfg.Lighthouse.Hosts) != 1 || cfg.Lighthouse.Hosts[0] != overlayB)) {
			t.Errorf("node %s: lighthouse %+v", name, cfg.Lighthouse)
		}
		if len(cfg.Firewall.Inbound) != 1 || cfg.Firewall.Inbound[0]["proto"] != "any" || len(cfg.Firewall.Outbound) != 1 {
			t.Errorf("node %s: firewall %+v", name, cfg.Firewall)
		}
	}
}

func TestCleanVersion(t *testing.T) {
	for _, c := range []struct {
		k       Kind
		in, out string
	}{
		{KindNebula, "Version: 1.6.1\n", "nebula 1.6.1"},
		{KindPeercloud, "peercloud v0.1.0-dev (VpnCloud 2.3.0 compatible)\n", "peercloud v0.1.0-dev"},
		{KindWireguardGo, "wireguard-go v0.0.20220316\n\nUserspace WireGuard daemon", "wireguard-go v0.0.20220316"},
		{KindVpncloud, "VpnCloud v2.3.0, protocol version 1", "VpnCloud v2.3.0, protocol version 1"},
		{KindNebula, "", ""},
		{KindNebula, "Version: (devel)\n", "nebula (devel)"},
		{KindNebula, strings.Repeat("x", 100), "nebula " + strings.Repeat("x", 53)},
	} {
		if got := cleanVersion(c.k, c.in); got != c.out {
			t.Errorf("cleanVersion(%s, %q) = %q, want %q", c.k, c.in, got, c.out)
		}
	}
}

func TestVpncloudArgs(t *testing.T) {
	b := strings.Join(vpncloudArgs(VpncloudContender("/vc", "chacha20"), "b"), " ")
	a := strings.Join(vpncloudArgs(PeercloudContender("/pc", "plain"), "a"), " ")
	if want := "/vc -t tun -d vcpcb --ip 10.242.0.2/24 -l 3210 --password peercloud-bench --no-port-forwarding --algorithm chacha20"; b != want {
		t.Errorf("node b: %q, want %q", b, want)
	}
	if want := "/pc -t tun -d pcba --ip 10.242.0.1/24 -l 3210 --password peercloud-bench --no-port-forwarding --algorithm plain -c 10.241.0.2:3210"; a != want {
		t.Errorf("node a: %q, want %q", a, want)
	}
}

func TestVariantArgs(t *testing.T) {
	c := PeercloudVariant("/pc", "aes128", "nooffload", []string{"--no-tun-offload", "--udp-shards", "2"})
	if c.Name != "peercloud-aes128-nooffload" {
		t.Errorf("name %q", c.Name)
	}
	a := strings.Join(vpncloudArgs(c, "a"), " ")
	if want := "/pc -t tun -d pcba --ip 10.242.0.1/24 -l 3210 --password peercloud-bench --no-port-forwarding --algorithm aes128 -c 10.241.0.2:3210 --no-tun-offload --udp-shards 2"; a != want {
		t.Errorf("node a: %q, want %q", a, want)
	}
	// VpnCloud never gets peercloud's extra flags.
	v := VpncloudContender("/vc", "aes128")
	v.Extra = []string{"--no-udp-gso"}
	if got := strings.Join(vpncloudArgs(v, "b"), " "); strings.Contains(got, "--no-udp-gso") {
		t.Errorf("VpnCloud got peercloud flags: %q", got)
	}
}

func TestParseVariant(t *testing.T) {
	name, flags, err := ParseVariant("q2s2=--tun-queues 2  --udp-shards 2")
	if err != nil || name != "q2s2" || strings.Join(flags, " ") != "--tun-queues 2 --udp-shards 2" {
		t.Fatalf("got %q %q %v", name, flags, err)
	}
	if name, flags, err := ParseVariant("plain="); err != nil || name != "plain" || len(flags) != 0 {
		t.Fatalf("empty flags: %q %q %v", name, flags, err)
	}
	for _, bad := range []string{"", "noequals", "=--no-udp-gso", "Upper=--x", "a b=--x", "x=notaflag", "x=--a 1 2"} {
		if _, _, err := ParseVariant(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseVariant(%q) = %v, want ErrConfig", bad, err)
		}
	}
}

func TestWgSetArgs(t *testing.T) {
	got := strings.Join(wgSetArgs("/usr/bin/wg", "wgpca", "/d/a.key", "PUB=", "a"), " ")
	want := "/usr/bin/wg set wgpca listen-port 51820 private-key /d/a.key peer PUB= allowed-ips 10.242.0.2/32 endpoint 10.241.0.2:51820 persistent-keepalive 25"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
