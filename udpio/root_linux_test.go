package udpio

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// sh runs an ip(8)/sysctl command inside the namespace on this thread.
func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// vethPair joins ns1 and ns2 with a veth pair named v1 (in ns1) and v2.
func vethPair(t *testing.T, ns1, ns2 netns.NsHandle) {
	t.Helper()
	inNetns(t, ns1, func() {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "v1"
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "v2", PeerNamespace: netlink.NsFd(ns2)}); err != nil {
			t.Fatalf("veth: %v", err)
		}
	})
}

func TestRootIPv6OnlyHost(t *testing.T) {
	ns1, ns2 := newNetns(t), newNetns(t)
	vethPair(t, ns1, ns2)
	var a, b *Socket
	for i, ns := range []netns.NsHandle{ns1, ns2} {
		inNetns(t, ns, func() {
			dev := []string{"v1", "v2"}[i]
			// No IPv4 anywhere: lo stays down, the veth only gets IPv6.
			sh(t, "ip", "-6", "addr", "add", []string{"fd99::1/64", "fd99::2/64"}[i], "dev", dev, "nodad")
			sh(t, "ip", "link", "set", dev, "up")
			s := listen(t, ":0", Options{}) // VpnCloud #309: bind [::], no IPv4
			if !s.DualStack() {
				t.Fatal("IPv6-only host fell back to IPv4")
			}
			if i == 0 {
				a = s
			} else {
				b = s
			}
		})
	}
	toB := netip.AddrPortFrom(netip.MustParseAddr("fd99::2"), b.LocalAddr().Port())
	fromA := netip.AddrPortFrom(netip.MustParseAddr("fd99::1"), a.LocalAddr().Port())
	sendBatch(t, a, toB, 20)
	checkBatch(t, readAll(t, b, 20), fromA)
	sendBatch(t, b, fromA, 20)
	checkBatch(t, readAll(t, a, 20), toB)
}

func TestRootIPv4OnlyHost(t *testing.T) {
	ns1, ns2 := newNetns(t), newNetns(t)
	vethPair(t, ns1, ns2)
	var socks [2][]*Socket
	for i, ns := range []netns.NsHandle{ns1, ns2} {
		inNetns(t, ns, func() {
			dev := []string{"v1", "v2"}[i]
			sh(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
			sh(t, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
			sh(t, "ip", "addr", "add", []string{"10.77.0.1/24", "10.77.0.2/24"}[i], "dev", dev)
			sh(t, "ip", "link", "set", dev, "up")
			// Both the default socket (dual-stack or its fallback) and a
			// forced IPv4-only one must work here.
			socks[i] = []*Socket{listen(t, ":0", Options{}), listen(t, ":0", Options{ForceIPv4: true})}
			t.Logf("default socket in IPv4-only namespace: dual-stack=%v", socks[i][0].DualStack())
		})
	}
	for k := range 2 {
		a, b := socks[0][k], socks[1][k]
		toB := netip.AddrPortFrom(netip.MustParseAddr("10.77.0.2"), b.LocalAddr().Port())
		fromA := netip.AddrPortFrom(netip.MustParseAddr("10.77.0.1"), a.LocalAddr().Port())
		sendBatch(t, a, toB, 20)
		checkBatch(t, readAll(t, b, 20), fromA)
		sendBatch(t, b, fromA, 20)
		checkBatch(t, readAll(t, a, 20), toB)
	}
}

// TestRootOffloadsOverVeth sends GSO runs between namespaces over a veth
// pair (MTU 1500): runs of 1400-byte datagrams leave as UDP_SEGMENT sends
// and arrive intact, and a run of 1600-byte datagrams, which the kernel
// refuses to segment above the MTU (EINVAL), is resent one by one and
// arrives as IP fragments, with GSO still on afterwards.
func TestRootOffloadsOverVeth(t *testing.T) {
	ns1, ns2 := newNetns(t), newNetns(t)
	vethPair(t, ns1, ns2)
	var a, b *Socket
	for i, ns := range []netns.NsHandle{ns1, ns2} {
		inNetns(t, ns, func() {
			dev := []string{"v1", "v2"}[i]
			sh(t, "ip", "addr", "add", []string{"10.78.0.1/24", "10.78.0.2/24"}[i], "dev", dev)
			sh(t, "ip", "link", "set", dev, "up")
			s := listen(t, ":0", Options{})
			if i == 0 {
				a = s
			} else {
				b = s
			}
		})
	}
	watchdog(t, b)
	toB := netip.AddrPortFrom(netip.MustParseAddr("10.78.0.2"), b.LocalAddr().Port())
	fromA := netip.AddrPortFrom(netip.MustParseAddr("10.78.0.1"), a.LocalAddr().Port())
	s := sent{to: toB}
	var msgs []Message
	for range 3 {
		for range 40 {
			msgs = append(msgs, s.add(0, 1400))
		}
		msgs = append(msgs, s.add(0, 100))
	}
	for range 5 {
		msgs = append(msgs, s.add(0, 1600))
	}
	write(t, a, msgs)
	expect(t, b, fromA, &s)
	if a.gsoSent.Load() < 3 || a.gsoRetried.Load() != 1 || !a.Offloads().GSO {
		t.Fatalf("%d GSO sends, %d refused, offloads %+v", a.gsoSent.Load(), a.gsoRetried.Load(), a.Offloads())
	}
}
