package daemon_test

// Root tier: UPnP IGD port forwarding against a real miniupnpd. Namespace r
// is a NAT router (nftables masquerade on its WAN side) running Debian's
// miniupnpd-nftables; node b sits behind it on the LAN; node a is on the
// "public" side and knows only the router's external address and port.
// b maps its port, a connects through the mapping, and b's shutdown
// removes the mapping.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/peercloud/peercloud/internal/netns"
	"github.com/peercloud/peercloud/internal/testenv"
)

// requireUPnPTools fails (not skips) when root lacks the packages: CI
// installs them, and a root run without them would silently test nothing.
func requireUPnPTools(t *testing.T) {
	t.Helper()
	for _, tool := range []struct{ cmd, pkg string }{{"miniupnpd", "miniupnpd-nftables"}, {"upnpc", "miniupnpc"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(tool.cmd); err != nil {
			t.Fatalf("the port forwarding test needs %s: apt-get install -y %s (.ci/run installs it)", tool.cmd, tool.pkg)
		}
	}
}

// natSite is the router topology; its site reuses the e2e helpers for the
// nodes a and b.
type natSite struct {
	*site
	extIP string // the router's public-looking WAN address
	lanIP string // b's address behind the router
}

func newNATSite(t *testing.T) *natSite {
	t.Helper()
	testenv.RequireRoot(t)
	requireUPnPTools(t)
	n := int(nsCounter.Add(1)) + os.Getpid()%100
	topo, err := netns.New(fmt.Sprintf("pcupnp%d", n))
	if err != nil {
		t.Fatal(err)
	}
	s := &natSite{
		site:  &site{t: t, topo: topo, bin: peercloudBinary(t), n: n, logDir: t.TempDir(), procs: map[string]*exec.Cmd{}},
		extIP: fmt.Sprintf("11.99.%d.11", n%250),
		lanIP: fmt.Sprintf("192.168.%d.2", n%250),
	}
	t.Cleanup(func() {
		s.stopAll()
		if t.Failed() {
			for _, name := range []string{"a", "b", "miniupnpd"} {
				if b, err := os.ReadFile(filepath.Join(s.logDir, name+".log")); err == nil {
					t.Logf("log of %s:\n%s", name, b)
				}
			}
		}
		topo.Close()
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "r", "b"} {
		must(topo.Add(name))
	}
	// WAN: a private address plus the public-looking one miniupnpd needs
	// (it refuses to forward from private or reserved external addresses).
	// These addresses exist only inside these isolated namespaces.
	pub := fmt.Sprintf("11.99.%d", n%250)
	must(topo.Link("r", "wan0", fmt.Sprintf("10.203.%d.11/24", n%250), "a", "wan0", pub+".1/24"))
	must(topo.Exec("r", "ip", "addr", "add", s.extIP+"/24", "dev", "wan0"))
	lan := fmt.Sprintf("192.168.%d", n%250)
	must(topo.Link("r", "lan0", lan+".1/24", "b", "lan0", s.lanIP+"/24"))
	must(topo.Exec("b", "ip", "route", "add", "default", "via", lan+".1"))
	// A tunnel that is down must never be bypassed over the underlay.
	must(topo.Exec("b", "ip", "route", "add", "blackhole", fmt.Sprintf("10.202.%d.0/24", n%250), "metric", "1000"))
	must(topo.Exec("r", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"))
	// The chains miniupnpd expects (its nft_init.sh is broken), and the
	// masquerade that makes r a NAT router.
	rules := `table inet filter {
	chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
	chain miniupnpd { }
	chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
	chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; oifname "wan0" masquerade; }
	chain prerouting_miniupnpd { }
	chain postrouting_miniupnpd { }
}
`
	rulesFile := filepath.Join(s.logDir, "router.nft")
	must(os.WriteFile(rulesFile, []byte(rules), 0o600))
	must(topo.Exec("r", "nft", "-f", rulesFile))
	conf := fmt.Sprintf(`ext_ifname=wan0
ext_ip=%s
listening_ip=lan0
port=0
enable_upnp=yes
enable_natpmp=no
secure_mode=no
system_uptime=yes
uuid=3b2f6a1e-5c1d-4e55-9a8e-%012d
allow 1024-65535 %s.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`, s.extIP, n, lan)
	confFile := filepath.Join(s.logDir, "miniupnpd.conf")
	must(os.WriteFile(confFile, []byte(conf), 0o600))
	logf, err := os.Create(filepath.Join(s.logDir, "miniupnpd.log"))
	must(err)
	defer logf.Close()
	// -d: foreground with debug output; the topology kills it on Close.
	_, err = topo.Start("r", logf, "miniupnpd", "-d", "-f", confFile, "-P", filepath.Join(s.logDir, "miniupnpd.pid"))
	must(err)
	return s
}

// mappings lists the router's UDP port mappings as b sees them
// ("external->internal:port").
func (s *natSite) mappings() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.topo.Output(ctx, "b", "upnpc", "-l")
	if err != nil {
		return nil, err
	}
	var list []string
	for _, m := range upnpcLine.FindAllStringSubmatch(out, -1) {
		list = append(list, m[1]+"->"+m[2])
	}
	return list, nil
}

// upnpcLine matches upnpc -l's table rows: " 0 UDP  3210->192.168.5.2:3210  'peercloud' ” 1799".
var upnpcLine = regexp.MustCompile(`(?m)^\s*\d+\s+UDP\s+(\d+)->([0-9.]+:\d+)`)

func TestPortForwardingThroughMiniupnpd(t *testing.T) {
	s := newNATSite(t)
	// b maps its port; without --no-port-forwarding it asks the router.
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--password", "upnp-e2e")
	want := "3210->" + s.lanIP + ":3210"
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := s.mappings()
		if err == nil && strings.Contains(strings.Join(list, " "), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mapping %s on the router within 20 s: %v, %v", want, list, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// a knows only the router's external address and the mapped port;
	// b knows no peer, so only the mapping can carry a's handshake in.
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "upnp-e2e",
		"-c", s.extIP+":3210")
	s.mustPingBothWays(20 * time.Second)
	logB, _ := os.ReadFile(filepath.Join(s.logDir, "b.log"))
	if !strings.Contains(string(logB), "port forwarding: activated") || !strings.Contains(string(logB), s.extIP+":3210") {
		t.Errorf("b's log does not report the mapping of %s:3210", s.extIP)
	}

	// A clean stop removes the mapping from the router.
	if err := s.stop("b"); err != nil {
		t.Fatal(err)
	}
	list, err := s.mappings()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(list, " "), want) {
		t.Fatalf("mapping %s still on the router after b stopped: %v", want, list)
	}
	logB, _ = os.ReadFile(filepath.Join(s.logDir, "b.log"))
	if !strings.Contains(string(logB), "port forwarding: removed the mapping") {
		t.Error("b's log does not report removing the mapping")
	}
}

func TestNoGatewayDoesNotDelayStart(t *testing.T) {
	// Port forwarding on (no flag) in namespaces without a gateway: the
	// tunnel comes up as fast as without it, and one line says why there
	// is no mapping.
	s := newSite(t)
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--password", "no-gateway")
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210", "--password", "no-gateway")
	took, err := s.waitPing("a", "b", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first ping after %v", took)
	time.Sleep(7 * time.Second) // discovery's bound has passed
	logB, _ := os.ReadFile(filepath.Join(s.logDir, "b.log"))
	const noRouter = "port forwarding: no router found"
	if n := strings.Count(string(logB), noRouter); n != 1 {
		t.Fatalf("b logged %q %d times, want once:\n%s", noRouter, n, logB)
	}
	// The search ran in the background: the node was up before it ended.
	if started := strings.Index(string(logB), "vpn started"); started < 0 || started > strings.Index(string(logB), noRouter) {
		t.Errorf("b started only after the gateway search gave up:\n%s", logB)
	}
	if err := s.stop("b"); err != nil {
		t.Fatal(err)
	}
}

// TestPortForwardingRenewsLease: with a short lease (--port-forwarding-lease
// 6) b's mapping outlives several leases on a real miniupnpd because b
// renews it (halfway through, for leases of two minutes or less), while a
// mapping nobody renews disappears when its lease ends: the router does
// expire leases, so the mapping's survival is the renewal's doing.
func TestPortForwardingRenewsLease(t *testing.T) {
	s := newNATSite(t)
	s.start("b", "-v", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--password", "upnp-e2e", "--port-forwarding-lease", "6")
	want := "3210->" + s.lanIP + ":3210"
	has := func(m string) bool {
		list, err := s.mappings()
		return err == nil && strings.Contains(strings.Join(list, " "), m)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !has(want) {
		if time.Now().After(deadline) {
			t.Fatalf("no mapping %s on the router within 20 s", want)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The control: a mapping with a 5 s lease that nobody renews.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := s.topo.Output(ctx, "b", "upnpc", "-e", "unrenewed", "-a", s.lanIP, "4555", "4555", "UDP", "5"); err != nil {
		t.Fatalf("upnpc -a: %v\n%s", err, out)
	}
	control := "4555->" + s.lanIP + ":4555"
	if !has(control) {
		t.Fatal("the control mapping was not made")
	}
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		time.Sleep(time.Second)
		if !has(want) {
			t.Fatalf("b's mapping disappeared %v after the control mapping was made", time.Since(start).Round(time.Second))
		}
	}
	if has(control) {
		t.Fatal("the router kept a 5 s mapping for 20 s: it does not expire leases, the test proves nothing")
	}
	logB, _ := os.ReadFile(filepath.Join(s.logDir, "b.log"))
	if n := strings.Count(string(logB), "port forwarding: renewed"); n < 3 {
		t.Fatalf("b renewed its 6 s lease %d times in 20 s, want at least 3", n)
	} else {
		t.Logf("b renewed its 6 s lease %d times in 20 s; the unrenewed 5 s mapping expired", n)
	}
}
