package daemon_test

// Root tier, the mesh: N peercloud nodes in network namespaces on one
// underlay segment (a Linux bridge in a "switch" namespace), every node
// configured with only node 0 as its peer. They must find each other through
// node 0's peer lists and then talk directly.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercloud/peercloud/internal/netns"
	"github.com/peercloud/peercloud/internal/testenv"
)

// mesh is nodes "n0".."n<N-1>", each with eth0 (underlay 10.213.M.i+1/24)
// plugged into bridge br0 of namespace "sw". Overlay addresses are in
// 10.214.M.0/24.
type mesh struct {
	t      *testing.T
	topo   *netns.Topology
	bin    string
	m      int
	size   int
	logDir string

	mu    sync.Mutex
	procs map[int]*exec.Cmd
	args  map[int][]string // the arguments of the last start, for restarts
}

func newMesh(t *testing.T, size int) *mesh {
	t.Helper()
	testenv.RequireRoot(t)
	m := int(nsCounter.Add(1)) + os.Getpid()%100
	topo, err := netns.New(fmt.Sprintf("pcm%d", m))
	if err != nil {
		t.Fatal(err)
	}
	ms := &mesh{t: t, topo: topo, bin: peercloudBinary(t), m: m, size: size, logDir: t.TempDir(),
		procs: map[int]*exec.Cmd{}, args: map[int][]string{}}
	t.Cleanup(func() {
		ms.killAll()
		if t.Failed() {
			for i := 0; i < size; i++ {
				if b, err := os.ReadFile(ms.logPath(i)); err == nil {
					t.Logf("log of node n%d (underlay %s):\n%s", i, ms.underlay(i), b)
				}
			}
		}
		topo.Close()
	})
	if err := topo.Add("sw"); err != nil {
		t.Fatal(err)
	}
	if err := topo.Bridge("sw", "br0"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i++ {
		if err := topo.Add(ms.name(i)); err != nil {
			t.Fatal(err)
		}
		// No IPv6 on the interfaces made from here on (eth0, the node's
		// device): their router solicitations and MLD reports would blur
		// the packet counts. lo keeps ::1, the dual-stack socket works.
		if err := topo.Exec(ms.name(i), "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
			t.Fatal(err)
		}
		if err := topo.Attach("sw", "br0", fmt.Sprintf("p%d", i), ms.name(i), "eth0", ms.underlay(i)+"/24"); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

func (ms *mesh) name(i int) string     { return fmt.Sprintf("n%d", i) }
func (ms *mesh) logPath(i int) string  { return filepath.Join(ms.logDir, ms.name(i)+".log") }
func (ms *mesh) underlay(i int) string { return fmt.Sprintf("10.213.%d.%d", ms.m%250, i+1) }
func (ms *mesh) overlay(i int) string  { return fmt.Sprintf("10.214.%d.%d", ms.m%250, i+1) }
func (ms *mesh) seedPeer() string      { return ms.underlay(0) + ":3210" }

func (ms *mesh) except(skip ...int) []int {
	var o []int
next:
	for i := 0; i < ms.size; i++ {
		for _, s := range skip {
			if i == s {
				continue next
			}
		}
		o = append(o, i)
	}
	return o
}

// start runs peercloud on node i with args; debug logging, the listen port
// and no port forwarding are added.
func (ms *mesh) start(i int, args ...string) {
	ms.t.Helper()
	logf, err := os.OpenFile(ms.logPath(i), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		ms.t.Fatal(err)
	}
	defer logf.Close()
	full := append([]string{ms.bin, "-v", "-l", "3210", "--no-port-forwarding"}, args...)
	cmd, err := ms.topo.Start(ms.name(i), logf, full...)
	if err != nil {
		ms.t.Fatal(err)
	}
	ms.mu.Lock()
	ms.procs[i], ms.args[i] = cmd, args
	ms.mu.Unlock()
}

// nodeArgs is node i's command line: common, its --ip (ip(i), empty for
// none) and, for all but node 0, node 0 as its only peer.
func (ms *mesh) nodeArgs(i int, ip func(int) string, common []string) []string {
	args := append([]string(nil), common...)
	if a := ip(i); a != "" {
		args = append(args, "--ip", a)
	}
	if i != 0 {
		args = append(args, "-c", ms.seedPeer())
	}
	return args
}

// join starts node 0, then the others one after the other, each once the
// one before it reaches node 0 through the tunnel: the way a mesh grows, and
// every newcomer finds the whole mesh in node 0's handshake peer list. All
// before deadline.
func (ms *mesh) join(ip func(int) string, deadline time.Time, common ...string) {
	ms.t.Helper()
	for i := 0; i < ms.size; i++ {
		ms.start(i, ms.nodeArgs(i, ip, common)...)
		if i > 0 {
			if err := ms.waitPing(i, ms.overlay(0), deadline); err != nil {
				ms.t.Fatalf("n%d joining: %v", i, err)
			}
		}
	}
}

// startAll starts all nodes at once.
func (ms *mesh) startAll(ip func(int) string, common ...string) {
	ms.t.Helper()
	for i := 0; i < ms.size; i++ {
		ms.start(i, ms.nodeArgs(i, ip, common)...)
	}
}

func (ms *mesh) restart(i int) {
	ms.t.Helper()
	ms.mu.Lock()
	args := ms.args[i]
	ms.mu.Unlock()
	ms.start(i, args...)
}

// stop sends SIGINT to node i and waits for it to exit cleanly.
func (ms *mesh) stop(i int) error {
	ms.mu.Lock()
	cmd := ms.procs[i]
	delete(ms.procs, i)
	ms.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("node n%d did not stop within 10 s of SIGINT", i)
	}
}

func (ms *mesh) killAll() {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for i, cmd := range ms.procs {
		cmd.Process.Kill()
		cmd.Wait()
		delete(ms.procs, i)
	}
}

// ping sends count pings from node from to addr, interval apart, and
// returns how many replies came back and ping's output.
func (ms *mesh) ping(from int, addr string, count int, interval string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := ms.topo.Output(ctx, ms.name(from), "ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", interval, "-W", "2", addr)
	m := pingReceived.FindStringSubmatch(out)
	if m == nil {
		return 0, out
	}
	n, _ := strconv.Atoi(m[1])
	return n, out
}

var pingReceived = regexp.MustCompile(`(\d+) (?:packets )?received`)

// waitPing pings from node from to addr until a reply comes or the deadline
// passes.
func (ms *mesh) waitPing(from int, addr string, deadline time.Time) error {
	var last string
	for {
		n, out := ms.ping(from, addr, 1, "1")
		if n == 1 {
			return nil
		}
		last = out
		if time.Now().After(deadline) {
			return fmt.Errorf("no ping reply from n%d to %s before the deadline; last ping said:\n%s", from, addr, strings.TrimSpace(last))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPairs waits until every node in from pings every node in to (its
// address given by addr), all before deadline, and fails the test if not.
func (ms *mesh) waitPairs(from, to []int, addr func(int) string, deadline time.Time) {
	ms.t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for _, a := range from {
		for _, b := range to {
			if a == b {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := ms.waitPing(a, addr(b), deadline); err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		ms.t.Fatalf("%d pairs not connected:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

func (ms *mesh) all() []int { return ms.except() }

// underlayPackets is the number of packets node i's underlay interface has
// received plus sent.
func (ms *mesh) underlayPackets(i int) uint64 {
	ms.t.Helper()
	return underlayStat(ms.t, ms.topo, ms.name(i), "packets")
}

// pingAround makes every pair of nodes ping each other count times, quickly,
// all pairs at once, and fails unless at least percent of every pair's pings
// are answered (within 2 s each: the machines are shared, a reply may be
// late).
func (ms *mesh) pingAround(nodes []int, addr func(int) string, count, percent int) {
	ms.t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, out := ms.ping(a, addr(b), count, "0.01")
				if n*100 < count*percent {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("n%d -> %s: %d of %d replies\n%s", a, addr(b), n, count, strings.TrimSpace(out)))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		ms.t.Fatalf("pings lost:\n%s", strings.Join(errs, "\n"))
	}
}

func (ms *mesh) log(i int) string {
	b, _ := os.ReadFile(ms.logPath(i))
	return string(b)
}

func tunIP(ms *mesh) func(int) string {
	return func(i int) string { return ms.overlay(i) + "/24" }
}

// TestMeshFromOneSeed: four nodes that know only node 0 form a full mesh,
// their traffic does not pass through node 0, they keep talking when node 0
// leaves, and node 0 rejoins when it comes back.
func TestMeshFromOneSeed(t *testing.T) {
	ms := newMesh(t, 4)
	begin := time.Now()
	ms.join(tunIP(ms), begin.Add(15*time.Second), "--password", "mesh-seed-secret")
	ms.waitPairs(ms.all(), ms.all(), ms.overlay, begin.Add(15*time.Second))
	t.Logf("full mesh of %d nodes after %v", ms.size, time.Since(begin).Round(time.Millisecond))

	// Direct: while n1..n3 ping each other (6 directions x 50 pings, each
	// an echo request and a reply through the tunnel), node 0's underlay
	// interface sees next to nothing, and n1's sees its share.
	const count = 50
	rest := ms.except(0)
	seed0, seed1 := ms.underlayPackets(0), ms.underlayPackets(1)
	ms.pingAround(rest, ms.overlay, count, 90)
	d0, d1 := ms.underlayPackets(0)-seed0, ms.underlayPackets(1)-seed1
	t.Logf("underlay packets during %d pings among n1..n3: n0 %d, n1 %d", 6*count, d0, d1)
	// n1 pings two nodes and is pinged by two: 4 x count requests and as
	// many replies cross its underlay.
	if d1 < 8*count*9/10 {
		t.Fatalf("n1's underlay saw only %d packets for %d of its pings and answers: the counter does not measure the tunnel", d1, 8*count)
	}
	if d0 > 20 {
		t.Fatalf("n0's underlay saw %d packets while the others pinged each other: traffic goes through the seed", d0)
	}

	// The seed leaves; the others still talk to each other.
	if err := ms.stop(0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	ms.pingAround(rest, ms.overlay, 20, 80)

	// The seed comes back and is in the mesh again.
	back := time.Now()
	ms.restart(0)
	deadline := back.Add(15 * time.Second)
	ms.waitPairs([]int{0}, rest, ms.overlay, deadline)
	ms.waitPairs(rest, []int{0}, ms.overlay, deadline)
	t.Logf("n0 back in the mesh after %v", time.Since(back).Round(time.Millisecond))
}

// TestMeshSimultaneousJoin: four nodes started at the same moment, with the
// default keepalive. Node 0's handshake peer lists race with the joins (a
// list is made before the other newcomers' handshakes finish); VpnCloud
// then leaves newcomers apart until node 0's next broadcast (by default
// peer-timeout/2-60 = 90 s). peercloud broadcasts node info at the next
// tick after a peer joins, so the mesh is complete within seconds.
func TestMeshSimultaneousJoin(t *testing.T) {
	ms := newMesh(t, 4)
	begin := time.Now()
	ms.startAll(tunIP(ms), "--password", "mesh-together-secret")
	ms.waitPairs(ms.all(), ms.all(), ms.overlay, begin.Add(15*time.Second))
	t.Logf("full mesh of %d nodes started together after %v", ms.size, time.Since(begin).Round(time.Millisecond))
}

// TestMeshLeavingNodeIsForgotten: a node that stops with SIGINT says
// goodbye; the others remove it at once (and log it) and its overlay address
// stops answering, while the rest of the mesh carries on.
func TestMeshLeavingNodeIsForgotten(t *testing.T) {
	ms := newMesh(t, 4)
	begin := time.Now()
	ms.join(tunIP(ms), begin.Add(15*time.Second), "--password", "mesh-leave-secret")
	ms.waitPairs(ms.all(), ms.all(), ms.overlay, begin.Add(15*time.Second))

	if err := ms.stop(3); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	removed := regexp.MustCompile(`(?m)^.*removed peer.*` + regexp.QuoteMeta(ms.underlay(3)) + `\b.*$`)
	for !removed.MatchString(ms.log(1)) {
		if time.Since(stopped) > 2*time.Second {
			t.Fatalf("n1's log does not say that peer %s was removed within 2 s of its SIGINT", ms.underlay(3))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("n1 removed n3 %v after its SIGINT: %s", time.Since(stopped).Round(time.Millisecond),
		strings.TrimSpace(removed.FindString(ms.log(1))))
	if n, out := ms.ping(1, ms.overlay(3), 3, "0.2"); n != 0 {
		t.Fatalf("n3 stopped but %d pings to its overlay address were answered:\n%s", n, out)
	} else {
		t.Logf("ping from n1 to the departed n3: %s", strings.Join(strings.Fields(out), " "))
	}
	ms.pingAround(ms.except(3), ms.overlay, 20, 80)
}

// tapMesh starts three TAP nodes in the given mode (empty: the default),
// each device named tap0 with an address in one subnet, all knowing only
// node 0, and waits until every pair pings (ARP is broadcast across the
// tunnel, then unicast). Then n1 and n2 ping each other: with flood, node 0
// must receive every one of those frames too (hub), without it next to none
// (switch: the destinations are learned).
func tapMesh(t *testing.T, mode string, flood bool) {
	ms := newMesh(t, 3)
	args := []string{"-t", "tap", "-d", "tap0", "--password", "mesh-tap-" + mode}
	if mode != "" {
		args = append(args, "--mode", mode)
	}
	begin := time.Now()
	ms.join(tunIP(ms), begin.Add(15*time.Second), args...)
	ms.waitPairs(ms.all(), ms.all(), ms.overlay, begin.Add(15*time.Second))
	t.Logf("TAP mesh (mode %q) of %d nodes after %v", mode, ms.size, time.Since(begin).Round(time.Millisecond))
	ms.pingAround(ms.all(), ms.overlay, 10, 80)

	const count = 50
	seed0 := ms.underlayPackets(0)
	ms.pingAround([]int{1, 2}, ms.overlay, count, 90)
	d0 := ms.underlayPackets(0) - seed0
	t.Logf("n0's underlay packets while n1 and n2 exchanged %d frames: %d", 4*count, d0)
	switch {
	case flood && d0 < 4*count*9/10:
		t.Fatalf("mode %q: n0 received only %d of the %d frames n1 and n2 exchanged; a hub floods every frame", mode, d0, 4*count)
	case !flood && d0 > 20:
		t.Fatalf("mode %q: n0 received %d packets while n1 and n2 exchanged %d unicast frames; a switch learns where addresses are", mode, d0, 4*count)
	}
}

func TestMeshTAPSwitchMode(t *testing.T) {
	t.Run("switch", func(t *testing.T) { tapMesh(t, "switch", false) })
	t.Run("default", func(t *testing.T) { tapMesh(t, "", false) }) // normal is switch for TAP
}

func TestMeshTAPHubMode(t *testing.T) { tapMesh(t, "hub", true) }
