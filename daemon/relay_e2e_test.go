package daemon_test

// Root tier: relays, in the NAT topology of nat_e2e_test.go. Nodes that
// cannot reach each other directly talk through P; the relay forwards
// datagrams it cannot open (shown with the nodes' key logs and a capture
// in P's namespace); a direct path, once it works, replaces the relayed
// one; --no-relay on P leaves them unconnected.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peercloud/peercloud/internal/interop"
	"github.com/peercloud/peercloud/status"
	"github.com/peercloud/peercloud/wire"
)

// status asks node name's daemon for its status over its control socket,
// as an operator does (`peercloud status --json` in its namespace).
func (nn *natNet) status(name string) *status.Report {
	nn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := nn.topo.Output(ctx, name, nn.bin, "status", "--json", "-d", "pc"+name)
	if err != nil {
		nn.t.Fatalf("peercloud status of %s: %v\n%s", name, err, out)
	}
	var r status.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		nn.t.Fatalf("peercloud status --json of %s: %v\n%s", name, err, out)
	}
	return &r
}

// peerEntry is the entry of node "of" in node name's status: the peer
// claiming of's overlay address.
func (nn *natNet) peerEntry(name, of string) (status.Peer, bool) {
	nn.t.Helper()
	claim := nn.overlay(of) + "/32"
	for _, p := range nn.status(name).Peers {
		if slices.Contains(p.Claims, claim) {
			return p, true
		}
	}
	return status.Peer{}, false
}

// mustBeRelayed fails unless x's status lists y as relayed by P.
func (nn *natNet) mustBeRelayed(x, y string) status.Peer {
	nn.t.Helper()
	p, ok := nn.peerEntry(x, y)
	if !ok {
		nn.t.Fatalf("%s's status does not list %s (claiming %s): %+v", x, y, nn.overlay(y), nn.status(x).Peers)
	}
	if want := nn.public(1) + ":3210"; p.Via != want {
		nn.t.Fatalf("%s's status lists %s at %s via %q, want via P (%s)", x, y, p.Addr, p.Via, want)
	}
	nn.t.Logf("%s lists %s at %s via %s", x, y, p.Addr, p.Via)
	return p
}

// watchDirect counts, on both routers, the UDP datagrams forwarded from
// the WAN that come from the other router: datagrams between A and B that
// do not pass P. (ICMP errors that one plain masquerade answers the other
// node's hole punching with are forwarded too, but carry no tunnel
// traffic.)
func (nn *natNet) watchDirect() {
	nn.t.Helper()
	for _, r := range []struct{ name, other string }{{"r1", nn.public(12)}, {"r2", nn.public(11)}} {
		rules := `table ip pcobs {
	chain forward { type filter hook forward priority filter - 5; policy accept; iifname "wan0" ip saddr ` + r.other + ` ip protocol udp counter; }
}
`
		path := nn.logDir + "/" + r.name + "-obs.nft"
		if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
			nn.t.Fatal(err)
		}
		if err := nn.topo.Exec(r.name, "nft", "-f", path); err != nil {
			nn.t.Fatal(err)
		}
	}
}

// directPackets is the sum of watchDirect's counters.
func (nn *natNet) directPackets() int {
	nn.t.Helper()
	sum := 0
	for _, r := range []string{"r1", "r2"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := nn.topo.Output(ctx, r, "nft", "list", "chain", "ip", "pcobs", "forward")
		cancel()
		if err != nil {
			nn.t.Fatal(err)
		}
		m := nftCounter.FindStringSubmatch(out)
		if m == nil {
			nn.t.Fatalf("no counter in %s's pcobs chain:\n%s", r, out)
		}
		v, _ := strconv.Atoi(m[1])
		sum += v
	}
	return sum
}

// relayedPingBytes is the least a ping's datagram through a relay puts on
// the relay's wire: the 84-byte ICMP packet, the end-to-end session's 25
// bytes and the relay message's 41, without any header (a UDP GSO
// superpacket carries several datagrams under one set of headers, so
// neither packets nor headers can be counted on).
const relayedPingBytes = 84 + 25 + 41

// mustTalkThroughP makes x and y ping each other and fails unless most
// pings are answered, every one of them crossed P's underlay (request in
// and out, reply in and out: four datagrams of at least relayedPingBytes
// each), and no datagram from one router reached the other's LAN
// meanwhile.
func (nn *natNet) mustTalkThroughP(x, y string) {
	nn.t.Helper()
	const count = 40
	beforeP, beforeDirect := nn.underlayBytes("p"), nn.directPackets()
	got := nn.pingEachOther(x, y, count)
	dp, direct := nn.underlayBytes("p")-beforeP, nn.directPackets()-beforeDirect
	nn.t.Logf("%s<->%s through P: %d and %d of %d pings answered; P's underlay saw %d bytes, the routers forwarded %d datagrams from each other",
		x, y, got[0], got[1], count, dp, direct)
	if want := uint64(4 * relayedPingBytes * (got[0] + got[1])); dp < want {
		nn.t.Fatalf("P's underlay saw %d bytes while %s and %s exchanged %d pings (want at least %d): the traffic does not pass P",
			dp, x, y, got[0]+got[1], want)
	}
	if direct != 0 {
		nn.t.Fatalf("%d datagrams went from one router to the other's LAN: not all traffic passes P", direct)
	}
}

// natRelayed: A and B cannot reach each other directly (the routers of
// two_masquerades, two_symmetric, symmetric_and_firewalled_masquerade),
// but both reach P: with relays on (the default) they talk through P.
func natRelayed(t *testing.T, k1, k2 natKind) {
	nn := newNATNet(t, k1, k2)
	nn.watchDirect()
	nn.startBehind()
	begin := time.Now()
	nn.mustPingBothWays("a", "b", begin.Add(20*time.Second))
	t.Logf("A and B connected %v after B reached P", time.Since(begin).Round(time.Millisecond))
	nn.mustBeRelayed("a", "b")
	nn.mustBeRelayed("b", "a")
	nn.mustTalkThroughP("a", "b")
	nn.mustLearnRelayMTU("a", "b")
}

// mustLearnRelayMTU checks the path MTU through a relay: x's packets to y
// that fill x's device MTU with DF set are answered with an ICMP
// "fragmentation needed" naming the device MTU minus the relay overhead
// (41 bytes), x's kernel caches that MTU for y's overlay address only, and
// packets of that size get through.
func (nn *natNet) mustLearnRelayMTU(x, y string) {
	nn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := nn.topo.Output(ctx, x, "cat", "/sys/class/net/pc"+x+"/mtu")
	if err != nil {
		nn.t.Fatal(err)
	}
	devMTU, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		nn.t.Fatalf("device MTU %q: %v", out, err)
	}
	relayMTU := devMTU - 41
	// One full-size ping with DF: dropped, answered with the MTU.
	out, _ = nn.topo.Output(ctx, x, "ping", "-n", "-M", "do", "-s", strconv.Itoa(devMTU-28), "-c", "2", "-i", "0.5", "-W", "1", nn.overlay(y))
	if !strings.Contains(out, "mtu = "+strconv.Itoa(relayMTU)) && !strings.Contains(out, "mtu="+strconv.Itoa(relayMTU)) {
		nn.t.Fatalf("a %d-byte DF ping from %s to %s through the relay was not answered with mtu %d:\n%s", devMTU, x, y, relayMTU, out)
	}
	out, err = nn.topo.Output(ctx, x, "ip", "route", "get", nn.overlay(y))
	if err != nil || !strings.Contains(out, "mtu "+strconv.Itoa(relayMTU)) {
		nn.t.Fatalf("%s's kernel did not cache mtu %d for %s (%v):\n%s", x, relayMTU, y, err, out)
	}
	out, err = nn.topo.Output(ctx, x, "ip", "route", "get", nn.overlay("p"))
	if err != nil || strings.Contains(out, "mtu ") {
		nn.t.Fatalf("%s's kernel lowered the MTU for the direct peer P too (%v):\n%s", x, err, out)
	}
	out, _ = nn.topo.Output(ctx, x, "ping", "-n", "-q", "-M", "do", "-s", strconv.Itoa(relayMTU-28), "-c", "3", "-i", "0.2", "-W", "1", nn.overlay(y))
	if m := pingReceived.FindStringSubmatch(out); m == nil || m[1] == "0" {
		nn.t.Fatalf("%d-byte DF pings from %s to %s through the relay did not get through:\n%s", relayMTU, x, y, out)
	}
	nn.t.Logf("%s -> %s through the relay: device MTU %d, path MTU %d learned from the relay path", x, y, devMTU, relayMTU)
}

// natRelayOptOut: with --no-relay on P only, A and B behind symmetric NATs
// have no relay and do not connect; A lists no relayed peer.
func natRelayOptOut(t *testing.T) {
	nn := newNATNet(t, natSymmetric, natSymmetric)
	nn.noRelay("p")
	nn.startBehind()
	nn.mustNotConnect("a", "b", 10*time.Second)
	nn.mustHaveTried()
	for _, p := range nn.status("a").Peers {
		if p.Via != "" {
			t.Errorf("A lists a relayed peer although P does not relay: %+v", p)
		}
	}
}

// natRelayToDirect: A and B behind firewalled masquerades would connect
// directly, but R1 drops every datagram between A and R2 at first, so they
// connect through P. Once the rule is gone, they move to the direct path
// within 15 s and P no longer carries their traffic.
func natRelayToDirect(t *testing.T) {
	nn := newNATNet(t, natMasqueradeFirewall, natMasqueradeFirewall)
	block := `table ip pcblock {
	chain forward { type filter hook forward priority filter - 10; policy accept; ip daddr ` + nn.public(12) + ` drop; ip saddr ` + nn.public(12) + ` drop; }
}
`
	path := nn.logDir + "/r1-block.nft"
	if err := os.WriteFile(path, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := nn.topo.Exec("r1", "nft", "-f", path); err != nil {
		t.Fatal(err)
	}
	nn.startBehind()
	nn.mustPingBothWays("a", "b", time.Now().Add(20*time.Second))
	nn.mustBeRelayed("a", "b")

	if err := nn.topo.Exec("r1", "nft", "delete", "table", "ip", "pcblock"); err != nil {
		t.Fatal(err)
	}
	unblocked := time.Now()
	for {
		p, ok := nn.peerEntry("a", "b")
		if ok && p.Via == "" {
			t.Logf("A lists B directly at %s %v after the rule was deleted", p.Addr, time.Since(unblocked).Round(time.Millisecond))
			break
		}
		if time.Since(unblocked) > 15*time.Second {
			t.Fatalf("15 s after the rule was deleted A still lists B as %+v (found: %v)", p, ok)
		}
		time.Sleep(200 * time.Millisecond)
	}
	nn.mustTalkDirectly("a", "b")
}

// natRelayKeys proves that P cannot read what it relays. A, B and P write
// their session keys to key logs; a capture in P's namespace records every
// datagram P sends to B's public address while A pings B through P. Each
// one opens with a key of B's (the P<->B session); those that carry relayed
// traffic (TypeRelayed) name A as the source and carry an inner datagram
// that opens with a key of A's and with none of P's.
func natRelayKeys(t *testing.T) {
	nn := newNATNet(t, natSymmetric, natSymmetric)
	for _, name := range []string{"p", "a", "b"} {
		nn.keyLog[name] = nn.logDir + "/" + name + ".keys"
	}
	// One datagram per packet on P's wire: no UDP_SEGMENT superpackets in
	// the capture.
	nn.extra["p"] = append(nn.extra["p"], "--no-udp-gso")
	capt := startCapture(t, nn.topo.NS("p"), "eth0")
	nn.startBehind()
	nn.mustPingBothWays("a", "b", time.Now().Add(20*time.Second))
	if got, out := nn.ping("a", "b", 20, "0.05"); got < 18 {
		t.Fatalf("pings from A to B lost:\n%s", out)
	}
	pkts := capt.stop()
	aEntry := nn.mustBeRelayed("b", "a")

	keys := map[string][][]byte{}
	for _, name := range []string{"p", "a", "b"} {
		keys[name] = readKeyLog(t, nn.keyLog[name])
	}
	r2 := netip.MustParseAddr(nn.public(12))
	var outerHandshakes, own, relayed, innerHandshakes, innerSealed int
	var src []byte
	for _, pkt := range pkts {
		if pkt.dst.Addr() != r2 || pkt.src.Port() != 3210 {
			continue
		}
		if len(pkt.payload) > 0 && pkt.payload[0] == wire.InitByte {
			outerHandshakes++
			continue
		}
		pt, ok := openWithAny(keys["b"], pkt.payload)
		if !ok {
			t.Fatalf("a datagram from P to B (%d bytes) opens with none of B's %d keys", len(pkt.payload), len(keys["b"]))
		}
		if len(pt) == 0 || pt[0] != wire.TypeRelayed {
			own++
			continue
		}
		relayed++
		if len(pt) < 1+wire.RelayHeaderLen+1 {
			t.Fatalf("a relayed message of %d bytes carries no datagram", len(pt))
		}
		id, inner := pt[1:1+wire.RelayHeaderLen], pt[1+wire.RelayHeaderLen:]
		if src == nil {
			src = slices.Clone(id)
		} else if !slices.Equal(src, id) {
			t.Fatalf("relayed messages name two sources: %x and %x", src, id)
		}
		if inner[0] == wire.InitByte {
			innerHandshakes++
			continue
		}
		innerSealed++
		if _, ok := openWithAny(keys["a"], inner); !ok {
			t.Fatalf("a datagram P relayed to B opens with none of A's %d keys", len(keys["a"]))
		}
		if _, ok := openWithAny(keys["p"], inner); ok {
			t.Fatal("P holds a key that opens a datagram it relayed from A to B")
		}
	}
	t.Logf("P sent B %d handshake datagrams, %d of its own messages, %d relayed ones (%d inner handshakes, %d sealed); key logs: A %d, B %d, P %d keys",
		outerHandshakes, own, relayed, innerHandshakes, innerSealed, len(keys["a"]), len(keys["b"]), len(keys["p"]))
	if hex.EncodeToString(src) != aEntry.NodeID {
		t.Errorf("relayed messages name source %x, B's status says A is %s", src, aEntry.NodeID)
	}
	if innerSealed < 18 || innerHandshakes == 0 {
		t.Errorf("too little relayed traffic in the capture: %d sealed, %d handshake datagrams", innerSealed, innerHandshakes)
	}
}

// readKeyLog returns every key in a key log (handshake/keylog.go's
// "EVENT ID USE_FOR_SENDING KEY_HEX" lines) and fails unless it has master
// keys: the daemon wrote the keys of the tunnels that came up.
func readKeyLog(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("key log: %v", err)
	}
	defer f.Close()
	var keys [][]byte
	master := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 {
			t.Fatalf("key log %s: malformed line %q", path, sc.Text())
		}
		k, err := hex.DecodeString(fields[3])
		if err != nil {
			t.Fatalf("key log %s: %q: %v", path, sc.Text(), err)
		}
		if strings.HasPrefix(fields[0], "master") {
			master++
		}
		keys = append(keys, k)
	}
	if master == 0 {
		t.Fatalf("key log %s has no master keys (%d keys)", path, len(keys))
	}
	return keys
}

func openWithAny(keys [][]byte, pkt []byte) ([]byte, bool) {
	for _, k := range keys {
		if pt, err := interop.OpenWithKey(k, pkt); err == nil {
			return pt, true
		}
	}
	return nil, false
}

// inNetns runs f on a thread inside the named network namespace; sockets
// f creates stay in that namespace.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread is left to die if restoring fails
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		err = f()
		if e := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); e == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// captured is one UDP/IPv4 datagram a capture saw leave the interface.
type captured struct {
	src, dst netip.AddrPort
	payload  []byte
}

// capture records the UDP/IPv4 datagrams sent out of one interface with a
// packet socket (what tcpdump does, without needing tcpdump).
type capture struct {
	t       *testing.T
	fd      int
	stopped atomic.Bool
	done    chan struct{}
	once    sync.Once
	pkts    []captured
	err     error
}

// htons converts v to network byte order, as the packet socket calls want
// the protocol number.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// startCapture starts capturing in namespace ns on interface ifname until
// stop (or the end of the test).
func startCapture(t *testing.T, ns, ifname string) *capture {
	t.Helper()
	c := &capture{t: t, fd: -1, done: make(chan struct{})}
	err := inNetns(ns, func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("binding the packet socket to %s: %w", ifname, err)
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tv := unix.Timeval{Usec: 100_000}
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(c.fd)
		t.Fatal(err)
	}
	go c.run()
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *capture) run() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for !c.stopped.Load() {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			c.err = err
			return
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype != unix.PACKET_OUTGOING || ll.Protocol != htons(unix.ETH_P_IP) {
			continue
		}
		if p, ok := parseUDP4(buf[:n]); ok {
			c.pkts = append(c.pkts, p)
		}
	}
}

// stop ends the capture and returns what it recorded.
func (c *capture) stop() []captured {
	c.t.Helper()
	c.once.Do(func() {
		c.stopped.Store(true)
		<-c.done
		unix.Close(c.fd)
	})
	if c.err != nil {
		c.t.Fatalf("capture: %v", c.err)
	}
	return c.pkts
}

// parseUDP4 parses an IPv4 packet carrying UDP (not a fragment).
func parseUDP4(b []byte) (captured, bool) {
	if len(b) < 20 || b[0]>>4 != 4 || b[9] != 17 {
		return captured{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if frag := binary.BigEndian.Uint16(b[6:8]); frag&0x3fff != 0 || ihl < 20 || total > len(b) || total < ihl+8 {
		return captured{}, false
	}
	u := b[ihl:total]
	ulen := int(binary.BigEndian.Uint16(u[4:6]))
	if ulen < 8 || ulen > len(u) {
		return captured{}, false
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	return captured{
		src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(u[0:2])),
		dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(u[2:4])),
		payload: slices.Clone(u[8:ulen]),
	}, true
}
