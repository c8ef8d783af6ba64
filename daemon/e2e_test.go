package daemon_test

// Root tier: the peercloud binary started the way a user starts it, two
// nodes in network namespaces joined by a veth pair, real TUN devices and
// real UDP sockets.

import (
	"context"
	"fmt"
	"github.com/peercloud/peercloud/config"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercloud/peercloud/internal/netns"
	"github.com/peercloud/peercloud/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	nsCounter atomic.Int32
)

// TestMain removes the binary peercloudBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// peercloudBinary builds the command once per test run (into a temporary
// directory TestMain removes).
func peercloudBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "peercloud-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "peercloud")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/peercloud/peercloud/cmd/peercloud").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// site is two namespaces "a" (underlay 10.201.N.1) and "b" (10.201.N.2).
type site struct {
	t      *testing.T
	topo   *netns.Topology
	bin    string
	n      int
	logDir string
	procs  map[string]*exec.Cmd
}

func newSite(t *testing.T) *site {
	t.Helper()
	testenv.RequireRoot(t)
	n := int(nsCounter.Add(1)) + os.Getpid()%100
	topo, err := netns.New(fmt.Sprintf("pce2e%d", n))
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, topo: topo, bin: peercloudBinary(t), n: n, logDir: t.TempDir(), procs: map[string]*exec.Cmd{}}
	t.Cleanup(func() {
		s.stopAll()
		if t.Failed() {
			for _, name := range []string{"a", "b"} {
				if b, err := os.ReadFile(filepath.Join(s.logDir, name+".log")); err == nil {
					t.Logf("log of node %s:\n%s", name, b)
				}
			}
		}
		topo.Close()
	})
	for _, name := range []string{"a", "b"} {
		if err := topo.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := topo.Link("a", "veth0", s.underlay("a")+"/24", "b", "veth0", s.underlay("b")+"/24"); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *site) underlay(name string) string {
	return fmt.Sprintf("10.201.%d.%d", s.n%250, map[string]int{"a": 1, "b": 2}[name])
}

func (s *site) tunnel(name string) string {
	return fmt.Sprintf("10.202.%d.%d", s.n%250, map[string]int{"a": 1, "b": 2}[name])
}

// start runs peercloud in namespace name with args (the device and the log
// file are added).
func (s *site) start(name string, args ...string) {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.logDir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	full := append([]string{s.bin, "-d", "pc" + name + "%d"}, args...)
	cmd, err := s.topo.Start(name, logf, full...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.procs[name] = cmd
}

// startPair starts b listening and a connecting to it, both with extra.
func (s *site) startPair(extra ...string) {
	s.start("b", append([]string{"--ip", s.tunnel("b") + "/24", "-l", "3210", "--no-port-forwarding"}, extra...)...)
	s.start("a", append([]string{"--ip", s.tunnel("a") + "/24", "-l", "3210", "-c", s.underlay("b") + ":3210", "--no-port-forwarding"}, extra...)...)
}

func (s *site) kill(name string) {
	if cmd := s.procs[name]; cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
		delete(s.procs, name)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *site) stop(name string) error {
	cmd := s.procs[name]
	if cmd == nil {
		return nil
	}
	delete(s.procs, name)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		return fmt.Errorf("node %s did not stop within 10 s of SIGINT", name)
	}
}

func (s *site) stopAll() {
	for name := range s.procs {
		s.kill(name)
	}
}

// waitPing pings from one node's namespace to the other's tunnel address
// until a reply comes or the timeout passes; it returns how long it took.
func (s *site) waitPing(from, to string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < timeout {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.topo.Output(ctx, from, "ping", "-c", "1", "-W", "1", s.tunnel(to))
		cancel()
		if err == nil {
			return time.Since(start), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("no ping reply from %s to %s within %v", from, to, timeout)
}

func (s *site) mustPingBothWays(timeout time.Duration) {
	s.t.Helper()
	if _, err := s.waitPing("a", "b", timeout); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.waitPing("b", "a", timeout); err != nil {
		s.t.Fatal(err)
	}
}

var iperfBits = regexp.MustCompile(`"bits_per_second":\s*([0-9.e+]+)`)

// iperf runs a short TCP iperf3 through the tunnel from a to b and returns
// the receiver's rate in bit/s.
func (s *site) iperf(seconds int, reverse bool) float64 {
	s.t.Helper()
	if _, err := exec.LookPath("iperf3"); err != nil {
		s.t.Fatal("iperf3 is needed for the root tier: apt-get install -y iperf3")
	}
	srv, err := s.topo.Start("b", nil, "iperf3", "-s", "-1", "-B", s.tunnel("b"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	args := []string{"iperf3", "-c", s.tunnel("b"), "-t", strconv.Itoa(seconds), "-J", "--connect-timeout", "3000"}
	if reverse {
		args = append(args, "-R")
	}
	var out string
	for try := 0; try < 20; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+15)*time.Second)
		out, err = s.topo.Output(ctx, "a", args...)
		cancel()
		if err == nil && strings.Contains(out, `"error"`) {
			// iperf3 -J reports a refused connection in its JSON.
			err = fmt.Errorf("iperf3: %s", out[strings.Index(out, `"error"`):])
		}
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond) // server not listening yet
	}
	if err != nil {
		s.t.Fatalf("iperf3: %v\n%s", err, out)
	}
	idx := strings.Index(out, `"sum_received"`)
	if idx < 0 {
		s.t.Fatalf("iperf3 output without sum_received: %s", out)
	}
	m := iperfBits.FindStringSubmatch(out[idx:])
	if m == nil {
		s.t.Fatalf("iperf3 output without a rate: %s", out[idx:])
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestTunnelWithFlags(t *testing.T) {
	s := newSite(t)
	s.startPair("--password", "e2e-secret")
	s.mustPingBothWays(15 * time.Second)
	bps := s.iperf(3, false)
	rbps := s.iperf(3, true)
	t.Logf("iperf3 TCP through the tunnel: a->b %.0f Mbit/s, b->a %.0f Mbit/s", bps/1e6, rbps/1e6)
	if bps <= 0 || rbps <= 0 {
		t.Fatal("no throughput")
	}
	if q := s.devQueueLen("a"); q != fmt.Sprint(config.DefaultDeviceQueueLen) {
		t.Errorf("device transmit queue %s, want the default %d", q, config.DefaultDeviceQueueLen)
	}
	// A clean stop runs to the end and says goodbye.
	if err := s.stop("a"); err != nil {
		t.Fatalf("node a did not exit cleanly: %v", err)
	}
}

func TestTunnelWithConfigFile(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	write := func(name, peer, ip string) string {
		p := filepath.Join(dir, name+".net")
		body := fmt.Sprintf("listen: 3210\nip: %s/24\nport-forwarding: false\ncrypto:\n  password: config-file-secret\npeercloud:\n  device-queue-len: 3000\n", ip)
		if peer != "" {
			body += fmt.Sprintf("peers:\n  - %s:3210\n", peer)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s.start("b", "--config", write("b", "", s.tunnel("b")))
	s.start("a", "--config", write("a", s.underlay("b"), s.tunnel("a")))
	s.mustPingBothWays(15 * time.Second)
	if q := s.devQueueLen("b"); q != "3000" {
		t.Errorf("device transmit queue %s, want the file's 3000", q)
	}
}

// devQueueLen returns the transmit queue length ("qlen") of node name's
// device as ip link shows it.
func (s *site) devQueueLen(name string) string {
	s.t.Helper()
	out, err := s.topo.Output(context.Background(), name, "ip", "-o", "link", "show", "pc"+name+"0")
	if err != nil {
		s.t.Fatalf("ip link: %v: %s", err, out)
	}
	f := strings.Fields(out)
	for i := range f[:len(f)-1] {
		if f[i] == "qlen" {
			return strings.TrimSuffix(f[i+1], `\`) // -o ends lines with a backslash
		}
	}
	s.t.Fatalf("no qlen in %q", out)
	return ""
}

func TestEachCipherAndPlain(t *testing.T) {
	for _, algo := range []string{"aes128", "aes256", "chacha20", "plain"} {
		t.Run(algo, func(t *testing.T) {
			s := newSite(t)
			s.startPair("--password", "cipher-"+algo, "--algorithm", algo)
			s.mustPingBothWays(15 * time.Second)
			logb, _ := os.ReadFile(filepath.Join(s.logDir, "a.log"))
			if !strings.Contains(strings.ToUpper(string(logb)), strings.ToUpper(strings.TrimSuffix(algo, "20"))) {
				t.Errorf("node a's log does not name the algorithm %s", algo)
			}
		})
	}
}

func TestRestartedNodeReconnects(t *testing.T) {
	s := newSite(t)
	s.startPair("--password", "restart-secret")
	s.mustPingBothWays(15 * time.Second)
	for _, victim := range []string{"b", "a"} {
		s.kill(victim) // no close message: a crash
		if victim == "b" {
			s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "restart-secret")
		} else {
			s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210", "--no-port-forwarding", "--password", "restart-secret")
		}
		took, err := s.waitPing("a", "b", 10*time.Second)
		if err != nil {
			t.Fatalf("after restarting %s: %v", victim, err)
		}
		t.Logf("connectivity back %v after restarting %s", took.Round(time.Millisecond), victim)
	}
}

func TestWrongPasswordNeverGetsIn(t *testing.T) {
	s := newSite(t)
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "right")
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210", "--no-port-forwarding", "--password", "wrong")
	if _, err := s.waitPing("a", "b", 5*time.Second); err == nil {
		t.Fatal("a node with the wrong password reached the other through the tunnel")
	}
}

// routeDev returns the device the kernel in namespace name routes dst
// through.
func (s *site) routeDev(name, dst string) string {
	out, err := s.topo.Output(context.Background(), name, "ip", "-o", "route", "get", dst)
	if err != nil {
		return ""
	}
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "dev" {
			return f[i+1]
		}
	}
	return ""
}

func TestClaimedPrefixesGetKernelRoutes(t *testing.T) {
	s := newSite(t)
	// b claims a subnet behind it besides its tunnel address; a installs a
	// route for it through its device and removes it when b leaves.
	claim := fmt.Sprintf("10.203.%d.0/24", s.n%250)
	dst := fmt.Sprintf("10.203.%d.7", s.n%250)
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "routes", "--claim", claim)
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210", "--no-port-forwarding", "--password", "routes")
	s.mustPingBothWays(15 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for s.routeDev("a", dst) != "pca0" {
		if time.Now().After(deadline) {
			t.Fatalf("no route for %s through pca0 in a (route get says dev %q)", claim, s.routeDev("a", dst))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.stop("b"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for s.routeDev("a", dst) == "pca0" {
		if time.Now().After(deadline) {
			t.Fatalf("route for %s still through pca0 after b left", claim)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNoRoutesFlag(t *testing.T) {
	s := newSite(t)
	claim := fmt.Sprintf("10.204.%d.0/24", s.n%250)
	dst := fmt.Sprintf("10.204.%d.7", s.n%250)
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "noroutes", "--claim", claim)
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210", "--no-port-forwarding", "--password", "noroutes", "--no-routes")
	s.mustPingBothWays(15 * time.Second)
	time.Sleep(time.Second)
	if dev := s.routeDev("a", dst); dev == "pca0" {
		t.Fatalf("--no-routes: a route for %s through pca0 was installed", claim)
	}
}

// TestIPv6OnlyUnderlay runs the tunnel over an underlay with no IPv4 at all
// (VpnCloud fails on such hosts: its issue #309): the nodes reach each other
// only by IPv6 addresses, the tunnel carries IPv4.
func TestIPv6OnlyUnderlay(t *testing.T) {
	s := newSite(t)
	v6 := func(name string) string {
		return fmt.Sprintf("fd00:%x::%d", s.n%250+1, map[string]int{"a": 1, "b": 2}[name])
	}
	for _, name := range []string{"a", "b"} {
		if err := s.topo.Exec(name, "ip", "-4", "addr", "flush", "dev", "veth0"); err != nil {
			t.Fatal(err)
		}
		if err := s.topo.Exec(name, "ip", "addr", "add", v6(name)+"/64", "dev", "veth0", "nodad"); err != nil {
			t.Fatal(err)
		}
	}
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "v6only")
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", "["+v6("b")+"]:3210", "--no-port-forwarding", "--password", "v6only")
	s.mustPingBothWays(15 * time.Second)
	if out, _ := s.topo.Output(context.Background(), "a", "ip", "-4", "addr", "show", "dev", "veth0"); strings.Contains(out, "inet ") {
		t.Fatalf("the underlay still has IPv4: %s", out)
	}
}

// TestIPv4OnlyHost runs both nodes in namespaces with IPv6 switched off
// (net.ipv6.conf.all.disable_ipv6=1; VpnCloud's issue #300 is a kernel
// without IPv6 at all, whose socket fallback udpio's tests simulate).
func TestIPv4OnlyHost(t *testing.T) {
	s := newSite(t)
	for _, name := range []string{"a", "b"} {
		if err := s.topo.Exec(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"); err != nil {
			t.Fatal(err)
		}
	}
	s.startPair("--password", "v4only")
	s.mustPingBothWays(15 * time.Second)
}

// TestIfupIfdown: the --ifup command runs once the device is configured and
// --ifdown when the daemon stops, both with IFNAME set, as in VpnCloud.
func TestIfupIfdown(t *testing.T) {
	s := newSite(t)
	out := filepath.Join(t.TempDir(), "ifupdown.log")
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "ifupdown",
		"--ifup", "echo up $IFNAME $(ip -o -4 addr show dev $IFNAME | wc -l) >> "+out,
		"--ifdown", "echo down $IFNAME >> "+out)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "up pcb0 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ifup did not run with IFNAME on a configured device: %q", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.stop("b"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "down pcb0") {
		t.Fatalf("ifdown did not run with IFNAME: %q", b)
	}
}
