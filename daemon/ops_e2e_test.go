package daemon_test

// Root tier: operations data of the real binary — hooks, the stats file,
// statsd packets, `peercloud status` and /metrics — on two nodes in
// network namespaces (helpers in e2e_test.go).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"

	"github.com/peercloud/peercloud/status"
)

// listenUDPIn opens a UDP socket on 127.0.0.1 inside namespace ns (a
// socket stays in the namespace it was created in).
func listenUDPIn(t *testing.T, ns string) net.PacketConn {
	t.Helper()
	var conn net.PacketConn
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // the thread is left to die if restoring fails
		orig, e := os.Open("/proc/thread-self/ns/net")
		if e != nil {
			err = e
			return
		}
		defer orig.Close()
		target, e := os.Open("/var/run/netns/" + ns)
		if e != nil {
			err = e
			return
		}
		defer target.Close()
		if err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			return
		}
		conn, err = net.ListenPacket("udp4", "127.0.0.1:0")
		if e := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); e == nil {
			runtime.UnlockOSThread()
		}
	}()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readEnvFile reads a file of KEY=value lines as written by env.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m, nil
}

// waitEnv waits for the hook of event to have run on node (its file
// written completely: the script renames it into place).
func waitEnv(t *testing.T, dir, node, event string, timeout time.Duration) map[string]string {
	t.Helper()
	path := filepath.Join(dir, node+"."+event+".env")
	deadline := time.Now().Add(timeout)
	for {
		if env, err := readEnvFile(path); err == nil {
			return env
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook %s did not run on node %s within %v", event, node, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hookArg is a --hook script that records its environment per node and
// event.
func hookArg(dir, node string) string {
	f := filepath.Join(dir, node+".$EVENT.env")
	return fmt.Sprintf("env > %s.tmp && mv %s.tmp %s", f, f, f)
}

func TestOpsHooksStatusStatsMetrics(t *testing.T) {
	s := newSite(t)
	t.Setenv("PEERCLOUD_STATS_INTERVAL", "1")
	hookDir, statsDir := t.TempDir(), t.TempDir()
	statsd := listenUDPIn(t, s.topo.NS("a"))
	metricsAddr := "127.0.0.1:19" + fmt.Sprintf("%03d", s.n%1000)

	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "ops",
		"--hook", hookArg(hookDir, "b"))
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210", "--no-port-forwarding",
		"--password", "ops", "--claim", "10.203.0.0/16", "--hook", hookArg(hookDir, "a"),
		"--stats-file", filepath.Join(statsDir, "a.stats"), "--statsd-server", statsd.LocalAddr().String(),
		"--statsd-prefix", "pctest", "--metrics-listen", metricsAddr)
	s.mustPingBothWays(15 * time.Second)

	// Hooks: device and start events on a; peer_connected on b with a's
	// address, node id and claims.
	for _, ev := range []string{"device_setup", "device_configured", "vpn_started", "peer_connecting"} {
		env := waitEnv(t, hookDir, "a", ev, 5*time.Second)
		if env["EVENT"] != ev || env["IFNAME"] != "pca0" {
			t.Errorf("a %s: EVENT=%q IFNAME=%q", ev, env["EVENT"], env["IFNAME"])
		}
	}
	env := waitEnv(t, hookDir, "b", "peer_connected", 5*time.Second)
	if env["PEER"] != s.underlay("a")+":3210" || len(env["NODE_ID"]) != 32 ||
		!strings.Contains(env["CLAIMS"], "10.203.0.0/16") || !strings.Contains(env["CLAIMS"], s.tunnel("a")+"/32") || env["IFNAME"] != "pcb0" {
		t.Errorf("b peer_connected env: PEER=%q NODE_ID=%q CLAIMS=%q IFNAME=%q", env["PEER"], env["NODE_ID"], env["CLAIMS"], env["IFNAME"])
	}
	nodeA := env["NODE_ID"]

	// Traffic: ten pings from a to b.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := s.topo.Output(ctx, "a", "ping", "-c", "10", "-i", "0.05", "-W", "1", s.tunnel("b")); err != nil {
		t.Fatal(err)
	}

	// peercloud status (text and JSON) in a's namespace.
	out, err := s.topo.Output(ctx, "a", s.bin, "status", "-d", "pca0")
	if err != nil {
		t.Fatalf("peercloud status: %v\n%s", err, out)
	}
	if !strings.Contains(out, "interface: pca0\n") || !strings.Contains(out, "peer: "+s.underlay("b")+":3210\n") ||
		!strings.Contains(out, "claims: "+s.tunnel("b")+"/32") {
		t.Errorf("peercloud status:\n%s", out)
	}
	out, err = s.topo.Output(ctx, "a", s.bin, "status", "--json")
	var rep status.Report
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Peers) != 1 {
		t.Fatalf("peercloud status --json: %v\n%s", err, out)
	}
	if p := rep.Peers[0]; p.TxPackets < 10 || p.RxPackets < 10 || p.Algorithm == "" || rep.Counters.DeviceIn < 10 {
		t.Errorf("status --json figures: %+v counters %+v", p, rep.Counters)
	}

	// Statsd: within a few intervals a packet with one peer, its claim and
	// the pings' traffic (packets from before the handshake are skipped).
	statsd.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		n, _, err := statsd.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no statsd packet with a peer and traffic: %v", err)
		}
		pkt := string(buf[:n])
		if !strings.Contains(pkt, "pctest.peer_count:1|g") {
			continue
		}
		if !strings.Contains(pkt, "pctest.table_claims:1|g") {
			t.Errorf("statsd packet:\n%s", pkt)
		}
		if !strings.Contains(pkt, "pctest.traffic.payload.inbound.packets:0|c") {
			break
		}
	}

	// The stats file: a's peer with its claim and cumulative traffic.
	b, err := os.ReadFile(filepath.Join(statsDir, "a.stats"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"peers:\n  - \"" + s.underlay("b") + ":3210\": { ttl_secs: ",
		"    - \"" + s.tunnel("b") + "/32\": { peer: \"" + s.underlay("b") + ":3210\"", "peer_traffic:\n", "peercloud:\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("stats file lacks %q:\n%s", want, b)
		}
	}

	// /metrics in a's namespace: valid exposition text with the peer.
	out, err = s.topo.Output(ctx, "a", "curl", "-sf", "http://"+metricsAddr+"/metrics")
	if err != nil {
		t.Fatalf("curl /metrics: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatalf("invalid exposition text: %v\n%s", err, out)
	}
	if f := fams["peercloud_peers"]; f == nil || f.Metric[0].GetGauge().GetValue() != 1 {
		t.Errorf("peercloud_peers: %v", f)
	}
	if f := fams["peercloud_handshakes_total"]; f == nil || f.Metric[0].GetCounter().GetValue() < 1 {
		t.Errorf("peercloud_handshakes_total: %v", f)
	}
	if fams["peercloud_ring_occupancy"] == nil || fams["peercloud_drops_total"] == nil {
		t.Error("ring occupancy or drops missing")
	}

	// A clean stop of a: b sees peer_disconnected with a's node id; a runs
	// vpn_shutdown; the control socket is gone.
	if err := s.stop("a"); err != nil {
		t.Fatal(err)
	}
	env = waitEnv(t, hookDir, "b", "peer_disconnected", 5*time.Second)
	if env["PEER"] != s.underlay("a")+":3210" || env["NODE_ID"] != nodeA {
		t.Errorf("b peer_disconnected: PEER=%q NODE_ID=%q (want %s)", env["PEER"], env["NODE_ID"], nodeA)
	}
	waitEnv(t, hookDir, "a", "vpn_shutdown", time.Second)
	if _, err := s.topo.Output(ctx, "a", s.bin, "status", "-d", "pca0"); err == nil {
		t.Error("status still answers after the daemon stopped")
	}
}

func TestOpsPeerDisconnectedOnTimeout(t *testing.T) {
	s := newSite(t)
	hookDir := t.TempDir()
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "ops",
		"--peer-timeout", "4", "--hook", "peer_disconnected:"+hookArg(hookDir, "b"))
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210", "--no-port-forwarding",
		"--password", "ops")
	s.mustPingBothWays(15 * time.Second)
	a := s.procs["a"].Process
	if err := a.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer a.Signal(syscall.SIGCONT)
	env := waitEnv(t, hookDir, "b", "peer_disconnected", 15*time.Second)
	if env["PEER"] != s.underlay("a")+":3210" || env["REASON"] != "timeout" || len(env["NODE_ID"]) != 32 {
		t.Errorf("peer_disconnected on timeout: PEER=%q REASON=%q NODE_ID=%q", env["PEER"], env["REASON"], env["NODE_ID"])
	}
	if _, err := os.Stat(filepath.Join(hookDir, "b.peer_connected.env")); err == nil {
		t.Error("the event-specific hook ran for another event")
	}
}
