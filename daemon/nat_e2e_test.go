package daemon_test

// Root tier: hole punching through NAT routers. A "public" segment (a
// bridge in namespace "sw") carries the public node P, a second public node
// Q and the WAN sides of two routers R1 and R2; node A sits behind R1, node
// B behind R2. The routers forward and masquerade with nftables. A and B
// know only P; P knows nobody. Which pairs end up talking directly depends
// on how the routers map ports, and each subtest asserts what happens with
// one kind of router (docs/NAT.md, "Which NAT combinations connect"); the
// pairs that cannot connect directly run with --no-relay here and through
// P as relay in relay_e2e_test.go.
//
// Addresses (N is the topology's number): public segment 10.221.N.0/24
// (P .1, Q .2, R1 .11, R2 .12), R1's LAN 10.222.N.0/24 (R1 .1, A .2), R2's
// LAN 10.223.N.0/24 (R2 .1, B .2), the overlay 10.224.N.0/24.

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

	"github.com/peercloud/peercloud/daemon"
	"github.com/peercloud/peercloud/internal/netns"
	"github.com/peercloud/peercloud/internal/testenv"
)

// natKind is how a router maps its LAN hosts' ports.
type natKind int

const (
	// natMasquerade is plain `oifname wan0 masquerade`: Linux keeps the
	// source port unless that clashes with an existing conntrack entry.
	natMasquerade natKind = iota
	// natMasqueradeFirewall adds what home routers have: packets from the
	// WAN that start a new connection to the router itself are dropped in
	// the input hook, before conntrack confirms them, so they leave no
	// entry behind and cannot push the router's own mappings off their
	// port.
	natMasqueradeFirewall
	// natSymmetric is `masquerade fully-random` (every destination gets
	// its own random source port) with natMasqueradeFirewall's input
	// firewall: it differs from that kind only in how it picks ports.
	natSymmetric
	// natPortForward is plain masquerade plus a static port forwarding
	// (DNAT) of UDP port 3210 on the WAN side to the LAN host, as a user
	// sets it up by hand or UPnP IGD does.
	natPortForward
)

// rules is the router's nftables ruleset; lanHost is the address of the
// host behind it.
func (k natKind) rules(lanHost string) string {
	masq := "masquerade"
	if k == natSymmetric {
		masq = "masquerade fully-random"
	}
	r := `table ip pcnat {
	chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "wan0" ` + masq + `; }
`
	if k == natMasqueradeFirewall || k == natSymmetric {
		r += `	chain input { type filter hook input priority filter; policy accept; iifname "wan0" ct state new counter drop; }
`
	}
	if k == natPortForward {
		r += `	chain prerouting { type nat hook prerouting priority dstnat; policy accept; iifname "wan0" udp dport 3210 dnat to ` + lanHost + `:3210; }
`
	}
	return r + "}\n"
}

// natNet is the topology; nodes are started by name ("p", "q", "a", "b").
type natNet struct {
	t      *testing.T
	topo   *netns.Topology
	bin    string
	n      int
	logDir string

	// extra are further flags for a node by name; keyLog its key log
	// file (PEERCLOUD_KEYLOG). Set before the node starts.
	extra  map[string][]string
	keyLog map[string]string

	mu    sync.Mutex
	procs map[string]*exec.Cmd
}

var natHosts = map[string]int{"p": 1, "q": 2, "a": 3, "b": 4}

// newNATNet builds the public segment with P and Q, and the routers r1
// (kind k1, node a behind it) and r2 (kind k2, node b behind it).
func newNATNet(t *testing.T, k1, k2 natKind) *natNet {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("the NAT tests need nft: apt-get install -y nftables")
	}
	n := int(nsCounter.Add(1)) + os.Getpid()%100
	topo, err := netns.New(fmt.Sprintf("pcnat%d", n))
	if err != nil {
		t.Fatal(err)
	}
	nn := &natNet{t: t, topo: topo, bin: peercloudBinary(t), n: n % 250, logDir: t.TempDir(), procs: map[string]*exec.Cmd{},
		extra: map[string][]string{}, keyLog: map[string]string{}}
	t.Cleanup(func() {
		nn.killAll()
		if t.Failed() {
			for _, name := range []string{"p", "q", "a", "b"} {
				if b, err := os.ReadFile(nn.logPath(name)); err == nil {
					t.Logf("log of node %s:\n%s", name, b)
				}
			}
			for _, r := range []string{"r1", "r2"} {
				t.Logf("conntrack of %s:\n%s", r, nn.conntrack(r))
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
	for _, name := range []string{"sw", "p", "q", "r1", "r2", "a", "b"} {
		must(topo.Add(name))
		// No IPv6 on the interfaces made from here on: router
		// solicitations and MLD reports would blur the packet counts.
		must(topo.Exec(name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"))
	}
	must(topo.Bridge("sw", "br0"))
	must(topo.Attach("sw", "br0", "pp", "p", "eth0", nn.public(1)+"/24"))
	must(topo.Attach("sw", "br0", "pq", "q", "eth0", nn.public(2)+"/24"))
	for i, r := range []struct {
		name, host string
		kind       natKind
	}{{"r1", "a", k1}, {"r2", "b", k2}} {
		lan := fmt.Sprintf("10.%d.%d", 222+i, nn.n)
		must(topo.Attach("sw", "br0", "p"+r.name, r.name, "wan0", nn.public(11+i)+"/24"))
		must(topo.Link(r.name, "lan0", lan+".1/24", r.host, "eth0", lan+".2/24"))
		must(topo.Exec(r.host, "ip", "route", "add", "default", "via", lan+".1"))
		// A tunnel that is down must never be bypassed over the underlay.
		must(topo.Exec(r.host, "ip", "route", "add", "blackhole", nn.overlayNet(), "metric", "1000"))
		must(topo.Exec(r.name, "sysctl", "-qw", "net.ipv4.ip_forward=1"))
		rulesFile := filepath.Join(nn.logDir, r.name+".nft")
		must(os.WriteFile(rulesFile, []byte(r.kind.rules(lan+".2")), 0o600))
		must(topo.Exec(r.name, "nft", "-f", rulesFile))
	}
	return nn
}

func (nn *natNet) public(host int) string { return fmt.Sprintf("10.221.%d.%d", nn.n, host) }
func (nn *natNet) overlay(name string) string {
	return fmt.Sprintf("10.224.%d.%d", nn.n, natHosts[name])
}
func (nn *natNet) overlayNet() string         { return fmt.Sprintf("10.224.%d.0/24", nn.n) }
func (nn *natNet) logPath(name string) string { return filepath.Join(nn.logDir, name+".log") }

// start runs a node: debug log, listen port 3210, no port forwarding, a
// keepalive of 2 s (peer lists come often, so nodes retry connecting to
// the peers in them often), its overlay address, its extra flags, and for
// all but P, P as its only peer.
func (nn *natNet) start(name string) {
	nn.t.Helper()
	logf, err := os.OpenFile(nn.logPath(name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		nn.t.Fatal(err)
	}
	defer logf.Close()
	var args []string
	if path := nn.keyLog[name]; path != "" {
		args = append(args, "env", daemon.KeyLogEnv+"="+path)
	}
	args = append(args, nn.bin, "-v", "-d", "pc"+name, "-l", "3210", "--no-port-forwarding", "--keepalive", "2",
		"--password", "nat-e2e-secret", "--ip", nn.overlay(name)+"/24")
	args = append(args, nn.extra[name]...)
	if name != "p" {
		args = append(args, "-c", nn.public(1)+":3210")
	}
	cmd, err := nn.topo.Start(name, logf, args...)
	if err != nil {
		nn.t.Fatal(err)
	}
	nn.mu.Lock()
	nn.procs[name] = cmd
	nn.mu.Unlock()
}

// noRelay adds --no-relay to the named nodes' flags.
func (nn *natNet) noRelay(names ...string) {
	for _, name := range names {
		nn.extra[name] = append(nn.extra[name], "--no-relay")
	}
}

func (nn *natNet) killAll() {
	nn.mu.Lock()
	defer nn.mu.Unlock()
	for name, cmd := range nn.procs {
		cmd.Process.Kill()
		cmd.Wait()
		delete(nn.procs, name)
	}
}

// ping sends count pings from node from to node to's overlay address,
// interval apart, and returns how many replies came back and ping's output.
func (nn *natNet) ping(from, to string, count int, interval string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := nn.topo.Output(ctx, from, "ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", interval, "-W", "1", nn.overlay(to))
	m := pingReceived.FindStringSubmatch(out)
	if m == nil {
		return 0, out
	}
	got, _ := strconv.Atoi(m[1])
	return got, out
}

// waitPing pings from one node to another until a reply comes (nil) or the
// deadline passes.
func (nn *natNet) waitPing(from, to string, deadline time.Time) error {
	for {
		got, out := nn.ping(from, to, 1, "1")
		if got == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no ping reply from %s to %s's overlay address before the deadline; last ping said:\n%s", from, to, strings.TrimSpace(out))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (nn *natNet) mustPingBothWays(x, y string, deadline time.Time) {
	nn.t.Helper()
	if err := nn.waitPing(x, y, deadline); err != nil {
		nn.t.Fatal(err)
	}
	if err := nn.waitPing(y, x, deadline); err != nil {
		nn.t.Fatal(err)
	}
}

// underlayPackets is the number of packets node name's eth0 received plus
// sent.
func (nn *natNet) underlayPackets(name string) uint64 { return nn.underlayStat(name, "packets") }

// underlayBytes is the number of bytes node name's eth0 received plus sent.
func (nn *natNet) underlayBytes(name string) uint64 { return nn.underlayStat(name, "bytes") }

// underlayStat sums eth0's rx_WHAT and tx_WHAT statistics of node name.
func (nn *natNet) underlayStat(name, what string) uint64 {
	nn.t.Helper()
	return underlayStat(nn.t, nn.topo, name, what)
}

// underlayStat sums the rx_WHAT and tx_WHAT statistics ("packets",
// "bytes") of the eth0 interface of topo's node name.
func underlayStat(t *testing.T, topo *netns.Topology, name, what string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := topo.Output(ctx, name, "cat", "/sys/class/net/eth0/statistics/rx_"+what, "/sys/class/net/eth0/statistics/tx_"+what)
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, f := range strings.Fields(out) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("interface statistics %q: %v", out, err)
		}
		sum += v
	}
	return sum
}

// pingEachOther makes x and y ping each other count times at once, 20 ms
// apart, and fails unless at least 90 % of each side's pings are answered;
// it returns the answered counts.
func (nn *natNet) pingEachOther(x, y string, count int) [2]int {
	nn.t.Helper()
	var wg sync.WaitGroup
	var got [2]int
	var outs [2]string
	for i, pair := range [][2]string{{x, y}, {y, x}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], outs[i] = nn.ping(pair[0], pair[1], count, "0.02")
		}()
	}
	wg.Wait()
	for i := range got {
		if got[i]*10 < count*9 {
			nn.t.Fatalf("pings lost between %s and %s:\n%s", x, y, strings.TrimSpace(outs[i]))
		}
	}
	return got
}

// mustTalkDirectly makes x and y ping each other and fails unless most
// pings are answered while P's underlay stays nearly silent: there is no
// relay, but this proves the path does not touch P at all.
func (nn *natNet) mustTalkDirectly(x, y string) {
	nn.t.Helper()
	const count = 40
	before := nn.underlayPackets("p")
	got := nn.pingEachOther(x, y, count)
	dp := nn.underlayPackets("p") - before
	nn.t.Logf("%s<->%s: %d and %d of %d pings answered; P's underlay saw %d packets meanwhile", x, y, got[0], got[1], count, dp)
	// 4 x count tunnel packets crossed the path; P hears only keepalives
	// (2 s apart, from up to four nodes) meanwhile.
	if dp > 30 {
		nn.t.Fatalf("P's underlay saw %d packets while %s and %s exchanged %d: the traffic passes P", dp, x, y, 4*count)
	}
}

// mustNotConnect checks for the whole of wait that no ping from x reaches
// y's overlay address (nor the other way round): the handshakes they keep
// starting never complete.
func (nn *natNet) mustNotConnect(x, y string, wait time.Duration) {
	nn.t.Helper()
	end := time.Now().Add(wait)
	for time.Now().Before(end) {
		for _, pair := range [][2]string{{x, y}, {y, x}} {
			if got, out := nn.ping(pair[0], pair[1], 2, "0.5"); got != 0 {
				nn.t.Fatalf("%s reached %s through the tunnel:\n%s", pair[0], pair[1], out)
			}
		}
	}
}

// conntrack is router r's conntrack table (UDP on port 3210), for the
// diagnosis in a failed test's log and in the default masquerade case.
func (nn *natNet) conntrack(r string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := nn.topo.Output(ctx, r, "cat", "/proc/net/nf_conntrack")
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "udp") && strings.Contains(l, "=3210") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(lines, "\n")
}

// mustHaveTried fails unless A and B both started handshakes with the
// other's router (the address P saw the other at): a pair that never
// connects must have tried.
func (nn *natNet) mustHaveTried() {
	nn.t.Helper()
	for _, x := range []struct{ node, router string }{{"a", nn.public(12)}, {"b", nn.public(11)}} {
		b, _ := os.ReadFile(nn.logPath(x.node))
		if !strings.Contains(string(b), `connecting {"peer": "`+x.router+":") {
			nn.t.Errorf("node %s never tried to connect to the other node's router %s", x.node, x.router)
		}
	}
}

// startBehind starts P, then A until it reaches P through the tunnel, then
// B until it does. The order makes the outcome deterministic: B's handshake
// with P brings it P's peer list with A in it, so B connects to A at once,
// and A learns of B from P's next node info a tick later and connects back.
func (nn *natNet) startBehind() {
	nn.t.Helper()
	begin := time.Now()
	nn.start("p")
	nn.start("a")
	nn.mustPingBothWays("a", "p", begin.Add(15*time.Second))
	nn.start("b")
	nn.mustPingBothWays("b", "p", begin.Add(20*time.Second))
}

// conntrackEntry is one line of /proc/net/nf_conntrack: the original and
// the reply direction's addresses and ports.
type conntrackEntry struct {
	src, dst, sport, dport     string // original direction
	rsrc, rdst, rsport, rdport string // reply direction
	unreplied                  bool
}

func parseConntrack(table string) []conntrackEntry {
	var list []conntrackEntry
	for _, line := range strings.Split(table, "\n") {
		var e conntrackEntry
		vals := map[string][]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				vals[k] = append(vals[k], v)
			}
			if f == "[UNREPLIED]" {
				e.unreplied = true
			}
		}
		if len(vals["src"]) != 2 || len(vals["dst"]) != 2 || len(vals["sport"]) != 2 || len(vals["dport"]) != 2 {
			continue
		}
		e.src, e.rsrc = vals["src"][0], vals["src"][1]
		e.dst, e.rdst = vals["dst"][0], vals["dst"][1]
		e.sport, e.rsport = vals["sport"][0], vals["sport"][1]
		e.dport, e.rdport = vals["dport"][0], vals["dport"][1]
		list = append(list, e)
	}
	return list
}

// TestNATTraversal runs each combination of routers in a fresh topology.
func TestNATTraversal(t *testing.T) {
	// One node behind a router, one on the public segment: A connects to
	// Q from the inside; the router maps A's port and lets Q's answers
	// back in, whatever its kind.
	for _, tc := range []struct {
		name string
		kind natKind
	}{{"behind_masquerade_to_public", natMasquerade}, {"behind_symmetric_to_public", natSymmetric}} {
		t.Run(tc.name, func(t *testing.T) {
			nn := newNATNet(t, tc.kind, natMasquerade)
			begin := time.Now()
			nn.start("p")
			nn.start("q")
			nn.start("a")
			deadline := begin.Add(20 * time.Second)
			nn.mustPingBothWays("a", "p", deadline)
			nn.mustPingBothWays("q", "p", deadline)
			nn.mustPingBothWays("a", "q", deadline)
			t.Logf("A and Q connected after %v", time.Since(begin).Round(time.Millisecond))
			nn.mustTalkDirectly("a", "q")
		})
	}
	t.Run("two_masquerades", natBothBehindMasquerade)
	t.Run("two_masquerades_with_input_firewall", natBothBehindMasqueradeWithFirewall)
	t.Run("masquerade_and_port_forward", natPortForwarded)
	t.Run("two_symmetric", func(t *testing.T) { natSymmetricPair(t, natSymmetric, natSymmetric) })
	t.Run("symmetric_and_firewalled_masquerade", func(t *testing.T) { natSymmetricPair(t, natSymmetric, natMasqueradeFirewall) })
	// Relays (relay_e2e_test.go): the pairs above that cannot connect
	// directly talk through P.
	t.Run("two_masquerades_relayed", func(t *testing.T) { natRelayed(t, natMasquerade, natMasquerade) })
	t.Run("two_symmetric_relayed", func(t *testing.T) { natRelayed(t, natSymmetric, natSymmetric) })
	t.Run("symmetric_and_firewalled_masquerade_relayed", func(t *testing.T) { natRelayed(t, natSymmetric, natMasqueradeFirewall) })
	t.Run("relay_cannot_read", natRelayKeys)
	t.Run("relayed_then_direct", natRelayToDirect)
	t.Run("relay_opt_out", natRelayOptOut)
}

// natBothBehindMasquerade: A and B behind two plain masquerading routers
// do not connect directly (here with --no-relay on every node; with
// relays they connect through P, see natRelayed). B's first handshake packet reaches R1 before A has sent
// anything to B; R1 has no mapping for it, delivers it to itself (nothing
// listens, it answers with an ICMP error) and keeps an unreplied conntrack
// entry R2:3210 -> R1:3210. When A then sends to B (R2:3210), masquerading
// A:3210 to R1:3210 would make a connection whose reply tuple is that
// entry, so R1 picks another source port; R2 only lets R1:3210 in (B's
// mapping), drops A's packets from the new port, and keeps an unreplied
// entry of its own. Both nodes' retries keep both entries alive (UDP
// unreplied timeout 30 s), so it never resolves. Both still reach P.
func natBothBehindMasquerade(t *testing.T) {
	nn := newNATNet(t, natMasquerade, natMasquerade)
	nn.noRelay("p", "a", "b")
	nn.startBehind()
	// Give the hole punching ample time: at a keepalive of 2 s the nodes
	// retry every few seconds.
	nn.mustNotConnect("a", "b", 12*time.Second)
	nn.mustPingBothWays("a", "p", time.Now().Add(5*time.Second))
	nn.mustPingBothWays("b", "p", time.Now().Add(5*time.Second))
	nn.mustHaveTried()

	// The evidence in R1's conntrack table: B's packets to R1 left an
	// unreplied entry, and A's mapping toward B lost port 3210.
	r1, r2 := nn.public(11), nn.public(12)
	var inbound, moved bool
	table := nn.conntrack("r1")
	for _, e := range parseConntrack(table) {
		if e.unreplied && e.src == r2 && e.sport == "3210" && e.dst == r1 && e.dport == "3210" {
			inbound = true
		}
		if e.dst == r2 && e.dport == "3210" && e.sport == "3210" && e.rdst == r1 && e.rdport != "3210" {
			moved = true
			t.Logf("R1 maps A's 3210 toward B to port %s", e.rdport)
		}
	}
	if !inbound || !moved {
		t.Fatalf("R1's conntrack table lacks the clash (unreplied entry from B: %v, A's mapping moved off 3210: %v):\n%s", inbound, moved, table)
	}
}

// natBothBehindMasqueradeWithFirewall: the same routers, but each drops
// new connections from its WAN to itself in the input hook, as home routers
// do. A dropped packet's conntrack entry is never confirmed, so B's early
// packets leave nothing in R1, A's mapping toward B keeps port 3210, and
// A's packets arrive at R2 as the answer B's mapping waits for: A and B
// talk directly.
func natBothBehindMasqueradeWithFirewall(t *testing.T) {
	nn := newNATNet(t, natMasqueradeFirewall, natMasqueradeFirewall)
	nn.startBehind()
	begin := time.Now()
	nn.mustPingBothWays("a", "b", begin.Add(15*time.Second))
	t.Logf("A and B connected %v after B reached P", time.Since(begin).Round(time.Millisecond))
	nn.mustTalkDirectly("a", "b")
	// B's first packets did reach R1 (and were dropped there, before A
	// had sent anything to B).
	if d := nn.dropped("r1"); d == 0 {
		t.Error("R1's input firewall dropped nothing: B's early packets never reached it, the test does not show what it claims")
	} else {
		t.Logf("R1's input firewall dropped %d packets", d)
	}
	for _, r := range []string{"r1", "r2"} {
		for _, e := range parseConntrack(nn.conntrack(r)) {
			if e.sport == "3210" && e.rdport != "3210" {
				t.Errorf("%s moved a mapping off port 3210: %+v", r, e)
			}
		}
	}
}

// natSymmetric: with a symmetric NAT on either side (a fresh random port
// for every destination), the address P saw a node at is useless to the
// other node, and with --no-relay on every node A and B never connect,
// while both keep talking to P (with relays they connect through P, see
// natRelayed).
func natSymmetricPair(t *testing.T, k1, k2 natKind) {
	nn := newNATNet(t, k1, k2)
	nn.noRelay("p", "a", "b")
	nn.startBehind()
	nn.mustNotConnect("a", "b", 12*time.Second)
	nn.mustPingBothWays("a", "p", time.Now().Add(5*time.Second))
	nn.mustPingBothWays("b", "p", time.Now().Add(5*time.Second))
	nn.mustHaveTried()

	// The evidence in R1's conntrack table: A's port 3210 is mapped to one
	// port toward P and to another toward B, so the address P saw A at
	// (and told B) is not the one A's packets to B come from.
	toP, toB := "", ""
	table := nn.conntrack("r1")
	for _, e := range parseConntrack(table) {
		if e.sport != "3210" || e.rdst != nn.public(11) {
			continue
		}
		switch e.dst {
		case nn.public(1):
			toP = e.rdport
		case nn.public(12):
			toB = e.rdport
		}
	}
	t.Logf("R1 maps A's 3210 to port %s toward P and to port %s toward B", toP, toB)
	if toP == "" || toB == "" || toP == toB {
		t.Fatalf("R1 does not map A's port to a different port per destination:\n%s", table)
	}
}

// natPortForwarded: B's router forwards UDP port 3210 to B, A's is a plain
// masquerade. B reaches A first, which leaves R1 with the unreplied entry
// that moves A's mapping toward B off port 3210 (as in two_masquerades),
// but R2 forwards A's packets from that new port to B anyway, and B
// answers through the forwarding: A and B talk directly.
func natPortForwarded(t *testing.T) {
	nn := newNATNet(t, natMasquerade, natPortForward)
	nn.startBehind()
	begin := time.Now()
	nn.mustPingBothWays("a", "b", begin.Add(15*time.Second))
	t.Logf("A and B connected %v after B reached P", time.Since(begin).Round(time.Millisecond))
	nn.mustTalkDirectly("a", "b")
}

// dropped is how many packets router r's input firewall dropped.
func (nn *natNet) dropped(r string) int {
	nn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := nn.topo.Output(ctx, r, "nft", "list", "chain", "ip", "pcnat", "input")
	if err != nil {
		nn.t.Fatal(err)
	}
	m := nftCounter.FindStringSubmatch(out)
	if m == nil {
		nn.t.Fatalf("no counter in %s's input chain:\n%s", r, out)
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

var nftCounter = regexp.MustCompile(`counter packets (\d+)`)
