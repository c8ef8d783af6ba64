package tunio_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
	"github.com/vishvananda/netlink"
)

// readMatching reads from d until match accepts a packet or the timeout
// passes (then it closes d to unblock the read and fails).
func readMatching(t *testing.T, d tunio.Device, match func([]byte) bool) []byte {
	t.Helper()
	type res struct {
		p   []byte
		err error
	}
	rc := make(chan res, 1)
	go func() {
		bufs := [][]byte{make([]byte, 2048), make([]byte, 2048), make([]byte, 2048), make([]byte, 2048)}
		sizes := make([]int, len(bufs))
		for {
			n, err := d.Read(bufs, sizes, 16)
			if err != nil {
				rc <- res{nil, err}
				return
			}
			for i := range n {
				p := bufs[i][16 : 16+sizes[i]]
				if match(p) {
					rc <- res{append([]byte(nil), p...), nil}
					return
				}
			}
		}
	}()
	select {
	case r := <-rc:
		if r.err != nil {
			t.Fatalf("read: %v", r.err)
		}
		return r.p
	case <-time.After(5 * time.Second):
		d.Close()
		<-rc
		t.Fatal("timed out waiting for packet from the kernel")
		return nil
	}
}

func TestRootTUNExchange(t *testing.T) {
	ns := newNetns(t)
	var dev *tunio.Tun
	var sock *net.UDPConn
	inNetns(t, ns, func() {
		var err error
		dev, err = tunio.Open(tunio.Options{Name: "pctun%d"})
		if err != nil {
			t.Fatal(err)
		}
		if dev.Name() != "pctun0" || dev.Type() != tunio.TUN {
			t.Errorf("opened %s %v, want pctun0 tun", dev.Name(), dev.Type())
		}
		if err := dev.Configure(tunio.Config{MTU: 1400, Addr: netip.MustParsePrefix("10.99.0.1/24")}); err != nil {
			t.Fatal(err)
		}
		sock, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
	})
	defer dev.Close()
	defer sock.Close()
	if dev.MTU() != 1400 {
		t.Errorf("MTU = %d, want 1400", dev.MTU())
	}
	if _, err := dev.UnderlayMTU(); !errors.Is(err, tunio.ErrNoDefaultRoute) {
		t.Errorf("UnderlayMTU in empty ns: %v, want ErrNoDefaultRoute", err)
	}
	local := sock.LocalAddr().(*net.UDPAddr).AddrPort()
	peer := netip.MustParseAddrPort("10.99.0.2:9999")

	// Kernel -> device.
	if _, err := sock.WriteToUDPAddrPort([]byte("to the tunnel"), peer); err != nil {
		t.Fatal(err)
	}
	pkt := readMatching(t, dev, func(p []byte) bool {
		_, d, _, ok := tuntest.ParseUDPPacket(p)
		return ok && d == peer
	})
	s, _, payload, _ := tuntest.ParseUDPPacket(pkt)
	if s != local || string(payload) != "to the tunnel" {
		t.Fatalf("read packet from %v payload %q", s, payload)
	}

	// Device -> kernel, in a batch with headroom.
	const off = 9
	var bufs [][]byte
	for _, msg := range []string{"reply 1", "reply 2"} {
		p := tuntest.UDPPacket(peer, local, []byte(msg))
		bufs = append(bufs, append(make([]byte, off), p...))
	}
	if n, err := dev.Write(bufs, off); err != nil || n != 2 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range []string{"reply 1", "reply 2"} {
		b := make([]byte, 100)
		n, from, err := sock.ReadFromUDPAddrPort(b)
		if err != nil {
			t.Fatalf("kernel did not receive %q: %v", want, err)
		}
		if string(b[:n]) != want || from != peer {
			t.Fatalf("kernel got %q from %v, want %q from %v", b[:n], from, want, peer)
		}
	}

	// A malformed packet is refused by the kernel with an error, no panic.
	if n, err := dev.Write([][]byte{{0xff, 0, 1}}, 0); err == nil || n != 0 {
		t.Errorf("Write of garbage = %d, %v; want error", n, err)
	}

	checkCloseEndsRead(t, dev)
	if _, err := dev.Write(bufs, off); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := dev.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRootAutomaticMTU(t *testing.T) {
	ns := newNetns(t)
	for _, tc := range []struct {
		typ  tunio.Type
		want int
	}{{tunio.TUN, 1427}, {tunio.TAP, 1413}} {
		inNetns(t, ns, func() {
			if _, err := netlink.LinkByName("under0"); err != nil {
				attrs := netlink.NewLinkAttrs()
				attrs.Name, attrs.MTU = "under0", 1500
				// A veth pair (dummy links may be missing from the kernel).
				l := &netlink.Veth{LinkAttrs: attrs, PeerName: "under1"}
				if err := netlink.LinkAdd(l); err != nil {
					t.Fatal(err)
				}
				for _, n := range []string{"under0", "under1"} {
					if err := netlink.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: n}}); err != nil {
						t.Fatal(err)
					}
				}
				addr, _ := netlink.ParseAddr("192.168.77.1/24")
				if err := netlink.AddrAdd(l, addr); err != nil {
					t.Fatal(err)
				}
				if err := netlink.RouteAdd(&netlink.Route{Gw: net.IPv4(192, 168, 77, 254)}); err != nil {
					t.Fatal(err)
				}
			}
			dev, err := tunio.Open(tunio.Options{Type: tc.typ})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			if u, err := dev.UnderlayMTU(); err != nil || u != 1500 {
				t.Fatalf("UnderlayMTU = %d, %v", u, err)
			}
			if err := dev.Configure(tunio.Config{}); err != nil {
				t.Fatal(err)
			}
			if dev.MTU() != tc.want {
				t.Errorf("%v: MTU = %d, want %d", tc.typ, dev.MTU(), tc.want)
			}
			l, err := netlink.LinkByName(dev.Name())
			if err != nil || l.Attrs().MTU != tc.want || l.Attrs().Flags&net.FlagUp == 0 {
				t.Errorf("%v: kernel link = %+v, %v", tc.typ, l, err)
			}
		})
	}
}

func TestRootRoutes(t *testing.T) {
	ns := newNetns(t)
	inNetns(t, ns, func() {
		dev, err := tunio.Open(tunio.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer dev.Close()
		if err := dev.Up(); err != nil {
			t.Fatal(err)
		}
		dst := netip.MustParsePrefix("10.55.0.0/16")
		if err := dev.AddRoute(dst); err != nil {
			t.Fatal(err)
		}
		r, err := netlink.RouteGet(net.IPv4(10, 55, 1, 2))
		if err != nil || len(r) == 0 || r[0].LinkIndex != dev.Index() {
			t.Fatalf("route lookup = %+v, %v; want via index %d", r, err, dev.Index())
		}
		if err := dev.DelRoute(dst); err != nil {
			t.Fatal(err)
		}
		if _, err := netlink.RouteGet(net.IPv4(10, 55, 1, 2)); err == nil {
			t.Fatal("route still present after DelRoute")
		}
		if err := dev.SetMTU(10); !errors.Is(err, tunio.ErrBadMTU) {
			t.Fatalf("SetMTU(10) = %v", err)
		}
		if err := dev.Down(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRootTAPExchange(t *testing.T) {
	ns := newNetns(t)
	var dev *tunio.Tun
	var sock *net.UDPConn
	var mac net.HardwareAddr
	inNetns(t, ns, func() {
		var err error
		dev, err = tunio.Open(tunio.Options{Name: "pctap%d", Type: tunio.TAP})
		if err != nil {
			t.Fatal(err)
		}
		if err := dev.Configure(tunio.Config{MTU: 1400, Addr: netip.MustParsePrefix("10.98.0.1/24")}); err != nil {
			t.Fatal(err)
		}
		l, err := netlink.LinkByName(dev.Name())
		if err != nil {
			t.Fatal(err)
		}
		mac = l.Attrs().HardwareAddr
		sock, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 98, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
	})
	defer dev.Close()
	defer sock.Close()
	local := sock.LocalAddr().(*net.UDPAddr).AddrPort()
	peer := netip.MustParseAddrPort("10.98.0.2:7777")
	if _, err := sock.WriteToUDPAddrPort([]byte("needs arp"), peer); err != nil {
		t.Fatal(err)
	}
	// The kernel first asks who has 10.98.0.2.
	frame := readMatching(t, dev, func(f []byte) bool {
		return len(f) >= 42 && f[12] == 0x08 && f[13] == 0x06 && bytes.Equal(f[14+24:14+28], []byte{10, 98, 0, 2})
	})
	if !bytes.Equal(frame[6:12], mac) {
		t.Errorf("ARP from %x, want device MAC %x", frame[6:12], mac)
	}

	// Write an Ethernet frame carrying a UDP packet to the device's MAC.
	peerMAC := [6]byte{0x02, 0, 0, 0, 0, 0x42}
	ip := tuntest.UDPPacket(peer, local, []byte("frame in"))
	f := tuntest.EthernetFrame([6]byte(mac), peerMAC, tuntest.EtherTypeIPv4, ip)
	if n, err := dev.Write([][]byte{f}, 0); err != nil || n != 1 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 100)
	n, from, err := sock.ReadFromUDPAddrPort(b)
	if err != nil || string(b[:n]) != "frame in" || from != peer {
		t.Fatalf("kernel got %q from %v, %v", b[:n], from, err)
	}
}

func TestRootTUNSteadyStateAllocations(t *testing.T) {
	for _, disable := range []tunio.Offloads{0, tunio.OffloadVnetHdr} {
		t.Run("disable="+disable.String(), func(t *testing.T) { steadyStateAllocations(t, disable) })
	}
}

// steadyStateAllocations checks one Read+Write round trip allocates nothing,
// with offloads (vnet header readv/writev path) or without.
func steadyStateAllocations(t *testing.T, disable tunio.Offloads) {
	ns := newNetns(t)
	var dev *tunio.Tun
	var sock *net.UDPConn
	inNetns(t, ns, func() {
		var err error
		dev, err = tunio.Open(tunio.Options{DisableOffloads: disable})
		if err != nil {
			t.Fatal(err)
		}
		if err := dev.Configure(tunio.Config{MTU: 1400, Addr: netip.MustParsePrefix("10.97.0.1/24")}); err != nil {
			t.Fatal(err)
		}
		sock, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 97, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
	})
	defer dev.Close()
	defer sock.Close()
	local := sock.LocalAddr().(*net.UDPAddr).AddrPort()
	peer := netip.MustParseAddrPort("10.97.0.2:9999")
	const off = 16
	pkt := tuntest.UDPPacket(peer, local, []byte("kernel, take this"))
	wbufs := [][]byte{append(make([]byte, off), pkt...)}
	rbufs := [][]byte{make([]byte, 2048), make([]byte, 2048)}
	sizes := make([]int, 2)
	payload := []byte("tunnel, take this")
	sockBuf := make([]byte, 2048)
	sock.SetReadDeadline(time.Now().Add(30 * time.Second))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := sock.WriteToUDPAddrPort(payload, peer); err != nil {
			t.Fatal(err)
		}
		for found := false; !found; {
			n, err := dev.Read(rbufs, sizes, off)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				p := rbufs[i][off : off+sizes[i]]
				found = found || (len(p) >= 28 && p[9] == 17 && p[16] == 10 && p[19] == 2)
			}
		}
		if _, err := dev.Write(wbufs, off); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sock.ReadFromUDPAddrPort(sockBuf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per Read+Write round trip, want 0", allocs)
	}
}

// TestRootTxQueueLen: Configure sets the device's transmit queue length,
// and the kernel holds that many packets for a reader and drops the rest.
func TestRootTxQueueLen(t *testing.T) {
	ns := newNetns(t)
	inNetns(t, ns, func() {
		dev, err := tunio.Open(tunio.Options{Name: "pcq%d"})
		if err != nil {
			t.Fatal(err)
		}
		defer dev.Close()
		if err := dev.Configure(tunio.Config{MTU: 1400, TxQueueLen: 64, Addr: netip.MustParsePrefix("10.96.0.1/24")}); err != nil {
			t.Fatal(err)
		}
		link, err := netlink.LinkByName(dev.Name())
		if err != nil {
			t.Fatal(err)
		}
		if q := link.Attrs().TxQLen; q != 64 {
			t.Fatalf("txqueuelen %d, want 64", q)
		}
		sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 96, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		for i := 0; i < 100; i++ { // nobody reads the device
			if _, err := sock.WriteToUDPAddrPort([]byte("queued"), netip.MustParseAddrPort("10.96.0.2:9")); err != nil {
				t.Fatal(err)
			}
		}
		link, err = netlink.LinkByName(dev.Name())
		if err != nil {
			t.Fatal(err)
		}
		if d := link.Attrs().Statistics.TxDropped; d < 100-64 || d > 100-64+8 {
			t.Errorf("%d of 100 packets dropped with a queue of 64, want ~36", d)
		}
		if err := dev.SetTxQueueLen(0); !errors.Is(err, tunio.ErrBadTxQueueLen) {
			t.Errorf("SetTxQueueLen(0) = %v, want ErrBadTxQueueLen", err)
		}
		if err := dev.SetTxQueueLen(tunio.MaxTxQueueLen + 1); !errors.Is(err, tunio.ErrBadTxQueueLen) {
			t.Errorf("SetTxQueueLen(max+1) = %v, want ErrBadTxQueueLen", err)
		}
	})
}

// offloadModes are the device settings the root tests of queue behaviour
// run under: offloads as probed, and none.
var offloadModes = []struct {
	name    string
	disable tunio.Offloads
}{{"offloads", 0}, {"plain", tunio.OffloadVnetHdr}}

// deviceWithSocket opens a configured multi-queue device with address
// addr in a fresh namespace and a UDP socket on ip there.
func deviceWithSocket(t *testing.T, opts tunio.Options, addr string, ip net.IP) (*tunio.Tun, *net.UDPConn) {
	t.Helper()
	ns := newNetns(t)
	var dev *tunio.Tun
	var sock *net.UDPConn
	inNetns(t, ns, func() {
		dev = openConfigured(t, opts, addr)
		var err error
		if sock, err = net.ListenUDP("udp4", &net.UDPAddr{IP: ip}); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { sock.Close() })
	return dev, sock
}

// checkCloseEndsRead checks that closing dev ends a Read blocked on it
// with net.ErrClosed (stray kernel packets are read past).
func checkCloseEndsRead(t *testing.T, dev tunio.Device) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := dev.Read([][]byte{make([]byte, 2048)}, []int{0}, 0); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a blocked Read")
	}
}
