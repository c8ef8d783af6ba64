package bench

// Root tier: the harness end to end in smoke mode with peercloud only.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/peercloud/peercloud/internal/testenv"
)

// buildPeercloud builds the command, or returns $PEERCLOUD_BIN when set
// (to measure a given binary).
func buildPeercloud(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("PEERCLOUD_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "peercloud")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/peercloud/peercloud/cmd/peercloud").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func namespacesWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			left = append(left, f[0])
		}
	}
	return left
}

// processesRunning returns the PIDs whose command line mentions needle.
func processesRunning(needle string) []string {
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && strings.Contains(string(b), needle) {
			pids = append(pids, filepath.Base(filepath.Dir(d)))
		}
	}
	return pids
}

func TestRootSmokeEndToEnd(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Exclusive(t, "bench-harness") // same addresses as the other package's harness tests
	defer goleak.VerifyNone(t)
	bin := buildPeercloud(t)
	opts := SmokeOptions()
	opts.Prefix = fmt.Sprintf("pcbt%d", os.Getpid()%10000)
	opts.Rounds = 2 // the rounds and their medians end to end
	// A namespace left by an interrupted run must not get in the way.
	if out, err := exec.Command("ip", "netns", "add", opts.Prefix+"-a").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", opts.Prefix+"-a").Run()

	rep, err := NewRunner(opts, zaptest.NewLogger(t)).Run(context.Background(), []Contender{PeercloudContender(bin, "aes128")}, "peercloud-aes128")
	if err != nil {
		t.Fatal(err)
	}
	files, err := WriteFiles(rep, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(files.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 1 || len(back.Rounds) != 2 || len(back.Rounds[1]) != 1 || back.Options.Rounds != 2 {
		t.Fatalf("want one (merged) result and two rounds of one: %s", b)
	}
	r := back.Results[0]
	if r1, r2 := back.Rounds[0][0].TCPAtoB, back.Rounds[1][0].TCPAtoB; r1 == nil || r2 == nil ||
		(r.TCPAtoB.BitsPerSecond != min(r1.BitsPerSecond, r2.BitsPerSecond)) {
		t.Errorf("merged TCP a->b %+v is not the lower of the rounds' %+v, %+v", r.TCPAtoB, r1, r2)
	}
	if len(r.Errors) > 0 {
		t.Errorf("errors: %q", r.Errors)
	}
	switch {
	case r.TCPAtoB == nil || r.TCPAtoB.BitsPerSecond <= 0,
		r.TCPBtoA == nil || r.TCPBtoA.BitsPerSecond <= 0,
		r.TCPParallel == nil || r.TCPParallel.BitsPerSecond <= 0,
		r.UDP64 == nil || r.UDP64.DeliveredPPS <= 0,
		r.UDP64Sustained == nil || len(r.UDP64Sustained.Probes) == 0,
		r.PingIdle == nil || r.PingIdle.Received == 0,
		r.PingLoad == nil || r.PingLoad.Received == 0,
		r.LoadStream == nil || r.LoadStream.BitsPerSecond <= 0:
		t.Fatalf("a measurement is missing or zero: %s", b)
	}
	for _, n := range []string{"a", "b"} {
		ns := r.Nodes[n]
		if ns.PeakRSSBytes < 1<<20 || ns.CPUSeconds <= 0 || ns.PhaseCPUSeconds["tcp_a_to_b"] <= 0 {
			t.Errorf("node %s: implausible resource figures %+v", n, ns)
		}
	}
	if r.TunnelMTU <= 0 || r.TunnelMTU > 1500 || !strings.Contains(r.Version, "peercloud") {
		t.Errorf("tunnel MTU %d, version %q", r.TunnelMTU, r.Version)
	}
	if back.Ratios["peercloud-aes128"].TCPAtoB != 1 {
		t.Errorf("ratio of the baseline to itself: %+v", back.Ratios)
	}
	// Alone, peercloud has only the absolute target: its memory, from
	// both rounds.
	if len(back.Targets) != 1 || back.Targets[0].Target != "peak RSS ≤ 32 MiB" || back.Targets[0].Spread.Rounds != 2 ||
		back.Targets[0].Spread.Max < 1 {
		t.Errorf("targets of a run without references: %+v", back.Targets)
	}
	t.Logf("smoke: a->b %.0f Mbit/s, b->a %.0f Mbit/s, UDP %.1f kpps, ping %.3f ms",
		r.TCPAtoB.BitsPerSecond/1e6, r.TCPBtoA.BitsPerSecond/1e6, r.UDP64.DeliveredPPS/1e3, r.PingIdle.AvgMs)
	if left := namespacesWithPrefix(t, opts.Prefix); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	if left := processesRunning(bin); len(left) > 0 {
		t.Errorf("node processes left running: %v", left)
	}
}

func TestRootInterruptedRunCleansUp(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Exclusive(t, "bench-harness") // same addresses as the other package's harness tests
	defer goleak.VerifyNone(t)
	bin := buildPeercloud(t)
	opts := SmokeOptions()
	opts.Duration = 20 * time.Second // long enough to be interrupted mid-measurement
	opts.Prefix = fmt.Sprintf("pcbi%d", os.Getpid()%10000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := NewRunner(opts, zaptest.NewLogger(t)).Run(ctx, []Contender{PeercloudContender(bin, "aes128")}, "")
		done <- err
	}()
	// Interrupt once both nodes run and the first iperf3 test is under way.
	deadline := time.Now().Add(20 * time.Second)
	const iperfClient = "iperf3\x00-c\x00" + overlayB // cmdline separates arguments with NUL
	start := time.Now()
	for len(processesRunning(bin)) < 2 || len(processesRunning(iperfClient)) == 0 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the run did not reach its measurements: %v", <-done)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("interrupting %v after the start, during the first iperf3 test", time.Since(start).Round(time.Millisecond))
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of the interrupt")
	}
	if left := namespacesWithPrefix(t, opts.Prefix); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	if left := processesRunning(bin); len(left) > 0 {
		t.Errorf("node processes left running: %v", left)
	}
	if left := processesRunning(iperfClient); len(left) > 0 {
		t.Errorf("iperf3 clients left running: %v", left)
	}
	if left := processesRunning("iperf3\x00-s\x00-B\x00" + overlayB); len(left) > 0 {
		t.Errorf("iperf3 servers left running: %v", left)
	}
}

// TestRootCongestionControl: --congestion reaches both namespaces (the
// host's setting stays), and an unknown name fails with the available ones.
func TestRootCongestionControl(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Exclusive(t, "bench-harness")
	host, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		t.Fatal(err)
	}
	// A namespace may choose only what the host allows: take one that
	// differs from the host's if there is one.
	allowed, err := os.ReadFile("/proc/sys/net/ipv4/tcp_allowed_congestion_control")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(host))
	for _, cc := range strings.Fields(string(allowed)) {
		if cc != want {
			want = cc
			break
		}
	}
	opts := SmokeOptions()
	opts.Prefix = fmt.Sprintf("pcbc%d", os.Getpid()%10000)
	opts.Congestion = want
	r := NewRunner(opts, zaptest.NewLogger(t))
	topo, err := r.topology()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"a", "b"} {
		out, err := topo.Output(context.Background(), ns, "cat", "/proc/sys/net/ipv4/tcp_congestion_control")
		if err != nil || strings.TrimSpace(out) != want {
			t.Errorf("namespace %s: congestion control %q (%v), want %s", ns, out, err, want)
		}
	}
	topo.Close()
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control"); string(after) != string(host) {
		t.Errorf("the host's congestion control changed: %q -> %q", host, after)
	}

	opts.Congestion = "nosuchcc"
	if topo, err := NewRunner(opts, zaptest.NewLogger(t)).topology(); err == nil {
		topo.Close()
		t.Fatal("an unknown congestion control was accepted")
	} else if !strings.Contains(err.Error(), "may use: "+strings.TrimSpace(string(allowed))) || !strings.Contains(err.Error(), "nosuchcc") {
		t.Errorf("error %q does not name the control and the allowed ones", err)
	}
	if left := namespacesWithPrefix(t, opts.Prefix); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
}
