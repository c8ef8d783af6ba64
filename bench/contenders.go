package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/curve25519"

	"github.com/peercloud/peercloud/internal/netns"
)

// site is the topology of one contender's run: namespaces "a" and "b" with
// underlay addresses on one veth pair, the overlay addresses the tunnel
// gets, and a directory for configs and logs.
type site struct {
	topo *netns.Topology
	dir  string
}

const (
	underlayA, underlayB = "10.241.0.1", "10.241.0.2"
	overlayA, overlayB   = "10.242.0.1", "10.242.0.2"
	overlayNet           = "10.242.0.0/24"
)

var (
	underlay = map[string]string{"a": underlayA, "b": underlayB}
	overlay  = map[string]string{"a": overlayA, "b": overlayB}
	other    = map[string]string{"a": "b", "b": "a"}
)

// devName is the tunnel device of node name for kind k; unique across
// namespaces because tools keep per-device files in the shared file system
// (wireguard-go's /var/run/wireguard/DEV.sock).
func devName(k Kind, name string) string {
	switch k {
	case KindWireguardGo:
		return "wgpc" + name
	case KindNebula:
		return "nebpc" + name
	case KindVpncloud:
		return "vcpc" + name
	default:
		return "pcb" + name
	}
}

// startNodes starts node b, then node a, of contender c and returns them.
// On error the processes already started are stopped.
func startNodes(ctx context.Context, s *site, c Contender) (map[string]*proc, error) {
	nodes := map[string]*proc{}
	fail := func(err error) (map[string]*proc, error) {
		for _, p := range nodes {
			p.stop(2 * time.Second)
		}
		return nil, fmt.Errorf("starting %s: %w", c.Name, err)
	}
	switch c.Kind {
	case KindPeercloud, KindVpncloud:
		for _, name := range []string{"b", "a"} {
			p, err := s.start(name, name, nil, vpncloudArgs(c, name)...)
			if err != nil {
				return fail(err)
			}
			nodes[name] = p
		}
	case KindWireguardGo:
		if err := startWireguard(ctx, s, c, nodes); err != nil {
			return fail(err)
		}
	case KindNebula:
		if err := startNebula(ctx, s, c, nodes); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("%w: unknown kind %q", ErrConfig, c.Kind))
	}
	return nodes, nil
}

// vpncloudArgs is the command line of node name for peercloud or VpnCloud
// (both take VpnCloud's flags): b listens, a connects to b.
func vpncloudArgs(c Contender, name string) []string {
	args := []string{c.Bin, "-t", "tun", "-d", devName(c.Kind, name), "--ip", overlay[name] + "/24", "-l", "3210",
		"--password", "peercloud-bench", "--no-port-forwarding", "--algorithm", c.Cipher}
	if name == "a" {
		args = append(args, "-c", underlayB+":3210")
	}
	if c.Kind == KindPeercloud {
		args = append(args, c.Extra...)
	}
	return args
}

// wgSetArgs is the `wg set` command that configures node name's device
// with its key and the other node as its one peer.
func wgSetArgs(wg, dev, keyFile, peerPub, name string) []string {
	peer := other[name]
	return []string{wg, "set", dev, "listen-port", "51820", "private-key", keyFile,
		"peer", peerPub, "allowed-ips", overlay[peer] + "/32",
		"endpoint", underlay[peer] + ":51820", "persistent-keepalive", "25"}
}

// start runs args in namespace ns with its output in DIR/logName.log and
// env as its environment (nil: the harness's own).
func (s *site) start(ns, logName string, env []string, args ...string) (*proc, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, logName+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return startProc(logName, s.topo.NS(ns), f, env, args...)
}

// logTail returns the last lines of DIR/logName.log.
func (s *site) logTail(logName string) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, logName+".log"))
	if len(b) > 800 {
		b = b[len(b)-800:]
	}
	return strings.TrimSpace(string(b))
}

// wgKeyPair returns a WireGuard private and public key in base64.
func wgKeyPair() (priv, pub string, err error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", "", err
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	p, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(k[:]), base64.StdEncoding.EncodeToString(p), nil
}

func startWireguard(ctx context.Context, s *site, c Contender, nodes map[string]*proc) error {
	type keys struct{ priv, pub string }
	ks := map[string]keys{}
	for _, name := range []string{"a", "b"} {
		priv, pub, err := wgKeyPair()
		if err != nil {
			return fmt.Errorf("wireguard keys: %w", err)
		}
		ks[name] = keys{priv, pub}
	}
	// wireguard-go refuses to run on Linux without this, pointing at the
	// kernel module; the benchmark means to measure the userspace one.
	env := append(os.Environ(), "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1")
	for _, name := range []string{"b", "a"} {
		dev := devName(c.Kind, name)
		os.Remove("/var/run/wireguard/" + dev + ".sock") // stale from a killed run
		p, err := s.start(name, name, env, c.Bin, "-f", dev)
		if err != nil {
			return err
		}
		nodes[name] = p
		keyFile := filepath.Join(s.dir, name+".key")
		if err := os.WriteFile(keyFile, []byte(ks[name].priv+"\n"), 0o600); err != nil {
			return err
		}
		set := wgSetArgs(c.Helper, dev, keyFile, ks[other[name]].pub, name)
		if err := retry(ctx, 5*time.Second, func() error { return s.topo.Exec(name, set...) }); err != nil {
			return fmt.Errorf("wg set %s: %w", dev, err)
		}
		for _, step := range [][]string{
			{"ip", "addr", "add", overlay[name] + "/24", "dev", dev},
			{"ip", "link", "set", dev, "up"},
		} {
			if err := s.topo.Exec(name, step...); err != nil {
				return err
			}
		}
	}
	return nil
}

func startNebula(ctx context.Context, s *site, c Contender, nodes map[string]*proc) error {
	ca, caKey := filepath.Join(s.dir, "ca.crt"), filepath.Join(s.dir, "ca.key")
	if out, err := exec.CommandContext(ctx, c.Helper, "ca", "-name", "peercloud-bench", "-out-crt", ca, "-out-key", caKey).CombinedOutput(); err != nil {
		return fmt.Errorf("nebula-cert ca: %w: %s", err, strings.TrimSpace(string(out)))
	}
	for _, name := range []string{"b", "a"} {
		crt, key := filepath.Join(s.dir, name+".crt"), filepath.Join(s.dir, name+".key")
		if out, err := exec.CommandContext(ctx, c.Helper, "sign", "-ca-crt", ca, "-ca-key", caKey, "-name", "node-"+name,
			"-ip", overlay[name]+"/24", "-out-crt", crt, "-out-key", key).CombinedOutput(); err != nil {
			return fmt.Errorf("nebula-cert sign: %w: %s", err, strings.TrimSpace(string(out)))
		}
		cfg := nebulaConfig(ca, crt, key, devName(c.Kind, name), name)
		cfgPath := filepath.Join(s.dir, name+".yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return err
		}
		p, err := s.start(name, name, nil, c.Bin, "-config", cfgPath)
		if err != nil {
			return err
		}
		nodes[name] = p
	}
	return nil
}

// nebulaConfig is a two-node Nebula config: b is the lighthouse, each node
// knows the other's underlay address statically, every packet is allowed.
func nebulaConfig(ca, crt, key, dev, name string) string {
	peer := other[name]
	lighthouse := "  am_lighthouse: true\n"
	if name == "a" {
		lighthouse = "  am_lighthouse: false\n  hosts:\n    - \"" + overlayB + "\"\n"
	}
	return fmt.Sprintf(`pki:
  ca: %q
  cert: %q
  key: %q
static_host_map:
  %q: [%q]
lighthouse:
%s  interval: 60
listen:
  host: 0.0.0.0
  port: 4242
punchy:
  punch: false
tun:
  disabled: false
  dev: %s
logging:
  level: info
firewall:
  outbound:
    - port: any
      proto: any
      host: any
  inbound:
    - port: any
      proto: any
      host: any
`, ca, crt, key, overlay[peer], underlay[peer]+":4242", lighthouse, dev)
}

// retry calls f until it succeeds, ctx ends or limit passes.
func retry(ctx context.Context, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
