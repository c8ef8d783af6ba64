package tunio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	fSYN = 0x02
	fPSH = 0x08
	fACK = 0x10
)

var mssOpt = []byte{2, 4, 0x05, 0x50} // MSS 1360

// openConfigured opens a TUN in ns with opts, MTU 1400 and addr.
func openConfigured(t *testing.T, opts tunio.Options, addr string) *tunio.Tun {
	t.Helper()
	dev, err := tunio.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	if err := dev.Configure(tunio.Config{MTU: 1400, Addr: netip.MustParsePrefix(addr)}); err != nil {
		t.Fatal(err)
	}
	return dev
}

func tcpTo(port uint16, flags uint8) func([]byte) bool {
	return func(p []byte) bool {
		return len(p) >= 40 && p[0] == 0x45 && p[9] == 6 && binary.BigEndian.Uint16(p[22:]) == port && p[33]&flags == flags
	}
}

// TestRootTSOReadSplitsSuperpackets connects a kernel TCP socket through
// the TUN to a fake peer (the handshake written by hand), sends 60 KB and
// checks that Read delivers valid, contiguous segments of at most the MTU
// and that the kernel did hand over superpackets.
func TestRootTSOReadSplitsSuperpackets(t *testing.T) {
	ns := newNetns(t)
	var dev *tunio.Tun
	var fd int
	peer := netip.MustParseAddrPort("10.96.0.2:5201")
	inNetns(t, ns, func() {
		dev = openConfigured(t, tunio.Options{}, "10.96.0.1/24")
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: peer.Addr().As4(), Port: int(peer.Port())}); !errors.Is(err, unix.EINPROGRESS) {
			t.Fatalf("connect: %v", err)
		}
	})
	f := os.NewFile(uintptr(fd), "tcp")
	defer f.Close()
	if dev.Offloads()&tunio.OffloadTSO == 0 {
		t.Fatalf("offloads %v: this kernel should take TSO", dev.Offloads())
	}
	syn := readMatching(t, dev, tcpTo(5201, fSYN))
	local := netip.AddrPortFrom(netip.AddrFrom4([4]byte(syn[12:16])), binary.BigEndian.Uint16(syn[20:]))
	clientSeq := binary.BigEndian.Uint32(syn[24:])
	synack := tunio.BuildPacket(peer, local, false, 1000, clientSeq+1, fSYN|fACK, mssOpt, nil)
	if _, err := dev.Write([][]byte{synack}, 0); err != nil {
		t.Fatal(err)
	}
	conn, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	data := bytes.Repeat([]byte("0123456789abcdefghij"), 3000)
	go conn.Write(data) //nolint:errcheck // the socket is closed at the end

	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 1400+16)
	}
	sizes := make([]int, len(bufs))
	got, next := []byte{}, clientSeq+1
	deadline := time.AfterFunc(10*time.Second, func() { dev.Close() })
	defer deadline.Stop()
	for len(got) < 10*1360 { // the initial window: ten segments
		n, err := dev.Read(bufs, sizes, 16)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		for i := range n {
			p := bufs[i][16 : 16+sizes[i]]
			if !tcpTo(5201, fACK)(p) {
				continue
			}
			if !tunio.PacketOK(p) || len(p) > 1400 {
				t.Fatalf("segment of %d bytes is invalid", len(p))
			}
			pl := p[20+int(p[32]>>4)*4:]
			if seq := binary.BigEndian.Uint32(p[24:]); len(pl) > 0 && seq != next {
				t.Fatalf("segment seq %d, want %d", seq, next)
			}
			got = append(got, pl...)
			next += uint32(len(pl))
		}
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("segments carry the wrong bytes")
	}
	if split, _ := tunio.Superpackets(dev); split == 0 {
		t.Fatal("the kernel sent no superpacket (TSO not exercised)")
	}
	if dev.Dropped() != 0 {
		t.Fatalf("%d packets dropped", dev.Dropped())
	}
}

// offloadsOnOff runs a root test with the device's offloads and without
// (plain device, no virtio header).
var offloadsOnOff = []struct {
	name    string
	disable tunio.Offloads
}{{"offloads", 0}, {"plain", tunio.OffloadVnetHdr}}

// TestRootCoalescedWriteAccepted plays a TCP peer that connects to a
// kernel listener and sends ten segments in one Write (coalesced into a
// superpacket), then UDP datagrams of one flow; the kernel must deliver
// every byte.
func TestRootCoalescedWriteAccepted(t *testing.T) {
	for _, tc := range offloadsOnOff {
		t.Run(tc.name, func(t *testing.T) {
			r := newTCPRig(t, tc.disable, 95)
			dev := r.dev
			var us *net.UDPConn
			inNetns(t, r.ns, func() {
				var err error
				if us, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 95, 0, 1), Port: 7001}); err != nil {
					t.Fatal(err)
				}
			})
			defer us.Close()
			data := bytes.Repeat([]byte("peercloud!"), 1360)
			bufs := [][]byte{r.segment(data, -1, 1)}
			for i := 0; i < 10; i++ {
				bufs = append(bufs, r.segment(data, i, 1))
			}
			if n, err := dev.Write(bufs, 1); err != nil || n != len(bufs) {
				t.Fatalf("Write = %d, %v", n, err)
			}
			r.expect(t, data)

			peer := r.peer
			// UDP: six datagrams of one flow, the last shorter.
			usrv := netip.MustParseAddrPort("10.95.0.1:7001")
			var ubufs [][]byte
			for i := range 6 {
				l := 1000
				if i == 5 {
					l = 333
				}
				ubufs = append(ubufs, tuntest.UDPPacket(peer, usrv, bytes.Repeat([]byte{byte('a' + i)}, l)))
			}
			if n, err := dev.Write(ubufs, 0); err != nil || n != 6 {
				t.Fatalf("UDP Write = %d, %v", n, err)
			}
			us.SetReadDeadline(time.Now().Add(5 * time.Second))
			for i := range 6 {
				b := make([]byte, 2000)
				n, _, err := us.ReadFromUDPAddrPort(b)
				if err != nil || n == 0 || b[0] != byte('a'+i) || (i < 5) != (n == 1000) {
					t.Fatalf("datagram %d: %d bytes %q.., %v", i, n, b[:min(n, 3)], err)
				}
			}
			_, merged := tunio.Superpackets(dev)
			wantMerged := uint64(1)
			if dev.Offloads()&tunio.OffloadUSO != 0 {
				wantMerged = 2
			}
			if tc.disable != 0 {
				wantMerged = 0
			}
			if merged != wantMerged {
				t.Fatalf("%d superpackets written with offloads %v, want %d", merged, dev.Offloads(), wantMerged)
			}
		})
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// tcpRig is a TUN in a namespace of its own, at 10.N.0.1/24, with a kernel
// TCP listener on 10.N.0.1:7000 and a peer at 10.N.0.2:6000 played by
// hand: its SYN written and the listener's SYN-ACK read back.
type tcpRig struct {
	ns        netns.NsHandle
	dev       *tunio.Tun
	ln        *net.TCPListener
	peer, srv netip.AddrPort
	ack       uint32 // the listener's next sequence number
}

func newTCPRig(t *testing.T, disable tunio.Offloads, n byte) *tcpRig {
	t.Helper()
	r := &tcpRig{ns: newNetns(t),
		peer: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, n, 0, 2}), 6000),
		srv:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, n, 0, 1}), 7000)}
	inNetns(t, r.ns, func() {
		r.dev = openConfigured(t, tunio.Options{DisableOffloads: disable}, fmt.Sprintf("10.%d.0.1/24", n))
		var err error
		if r.ln, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(r.srv)); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { r.ln.Close() })
	if _, err := r.dev.Write([][]byte{tunio.BuildPacket(r.peer, r.srv, false, 5000, 0, fSYN, mssOpt, nil)}, 0); err != nil {
		t.Fatal(err)
	}
	sa := readMatching(t, r.dev, func(p []byte) bool {
		return len(p) >= 40 && p[9] == 6 && binary.BigEndian.Uint16(p[22:]) == 6000 && p[33]&(fSYN|fACK) == fSYN|fACK
	})
	r.ack = binary.BigEndian.Uint32(sa[24:]) + 1
	return r
}

// segment i of data (1360 bytes each) from the peer, PSH on the last,
// with off bytes of headroom; i == -1 is the bare ACK that completes the
// handshake.
func (r *tcpRig) segment(data []byte, i, off int) []byte {
	if i < 0 {
		return append(make([]byte, off), tunio.BuildPacket(r.peer, r.srv, false, 5001, r.ack, fACK, nil, nil)...)
	}
	flags := uint8(fACK)
	if (i+1)*1360 == len(data) {
		flags |= fPSH
	}
	return append(make([]byte, off), tunio.BuildPacket(r.peer, r.srv, false, 5001+uint32(i*1360), r.ack, flags, nil, data[i*1360:(i+1)*1360])...)
}

// expect accepts the peer's connection and checks that it carries data.
func (r *tcpRig) expect(t *testing.T, data []byte) {
	t.Helper()
	r.ln.SetDeadline(time.Now().Add(5 * time.Second))
	c, err := r.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(data))
	if _, err := readFull(c, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("listener read %v; data equal %v", err, bytes.Equal(got, data))
	}
}

func TestRootOffloadProbeFallback(t *testing.T) {
	ns := newNetns(t)
	restore := tunio.SetOffloadFailure()
	defer restore()
	inNetns(t, ns, func() {
		dev, err := tunio.Open(tunio.Options{MultiQueue: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer dev.Close()
		if dev.Offloads() != 0 || len(dev.Queues()) != 2 {
			t.Fatalf("offloads %v, %d queues; want none, 2", dev.Offloads(), len(dev.Queues()))
		}
	})
	restore()
	inNetns(t, ns, func() {
		for _, tc := range []struct{ disable, want tunio.Offloads }{
			{tunio.OffloadVnetHdr, 0},
			{tunio.OffloadUSO, tunio.OffloadVnetHdr | tunio.OffloadTSO},
			{tunio.OffloadTSO | tunio.OffloadUSO, tunio.OffloadVnetHdr},
			{0, tunio.AllOffloads},
		} {
			dev, err := tunio.Open(tunio.Options{DisableOffloads: tc.disable})
			if err != nil {
				t.Fatal(err)
			}
			if dev.Offloads() != tc.want {
				t.Errorf("disable %v: offloads %v, want %v", tc.disable, dev.Offloads(), tc.want)
			}
			dev.Close()
		}
		tap, err := tunio.Open(tunio.Options{Type: tunio.TAP})
		if err != nil {
			t.Fatal(err)
		}
		if tap.Offloads() != 0 {
			t.Errorf("TAP offloads %v, want none", tap.Offloads())
		}
		tap.Close()
		if _, err := tunio.Open(tunio.Options{MultiQueue: tunio.MaxQueues + 1}); !errors.Is(err, tunio.ErrBadQueues) {
			t.Errorf("too many queues: %v", err)
		}
	})
}

// TestRootMultiQueue opens four queues and sends UDP to many ports: the
// kernel spreads the flows, and every queue reads some.
func TestRootMultiQueue(t *testing.T) {
	ns := newNetns(t)
	var dev *tunio.Tun
	var sock *net.UDPConn
	inNetns(t, ns, func() {
		dev = openConfigured(t, tunio.Options{MultiQueue: 4}, "10.94.0.1/24")
		var err error
		if sock, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 94, 0, 1)}); err != nil {
			t.Fatal(err)
		}
	})
	defer sock.Close()
	qs := dev.Queues()
	if len(qs) != 4 || qs[0] != tunio.Device(dev) {
		t.Fatalf("%d queues, first %v", len(qs), qs[0])
	}
	var wg sync.WaitGroup
	seen := make([]chan struct{}, len(qs))
	for i, q := range qs {
		seen[i] = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
			once := false
			for {
				n, err := q.Read(bufs, sizes, 0)
				if err != nil {
					return
				}
				if n > 0 && !once {
					once = true
					close(seen[i])
				}
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		for port := uint16(1000); ; port++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			sock.WriteToUDPAddrPort([]byte("spread"), netip.AddrPortFrom(netip.MustParseAddr("10.94.0.2"), port))
		}
	}()
	timeout := time.After(10 * time.Second)
	for i := range seen {
		select {
		case <-seen[i]:
		case <-timeout:
			t.Errorf("queue %d read nothing", i)
		}
	}
	close(stop)
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// TestRootWriteRunsHoldsOpenRun sends ten TCP segments to a kernel
// listener in two WriteRuns calls: the first holds back its open run of
// six, the second writes it with the other four as one superpacket; the
// listener must get every byte. Without offloads nothing is held.
func TestRootWriteRunsHoldsOpenRun(t *testing.T) {
	for _, tc := range offloadsOnOff {
		t.Run(tc.name, func(t *testing.T) {
			r := newTCPRig(t, tc.disable, 94)
			data := bytes.Repeat([]byte("held runs!"), 1360)
			first := [][]byte{r.segment(data, -1, 2)}
			for i := range 6 {
				first = append(first, r.segment(data, i, 2))
			}
			n, ver, err := r.dev.WriteRuns(first, 2, 0, true)
			wantN, wantVer := 1, 6 // the bare ACK; six segments held
			if tc.disable != 0 {
				wantN, wantVer = len(first), 0
			}
			if err != nil || n != wantN || ver != wantVer {
				t.Fatalf("first WriteRuns = %d, %d, %v; want %d, %d", n, ver, err, wantN, wantVer)
			}
			second := append([][]byte{}, first[n:]...)
			for i := 6; i < 10; i++ {
				second = append(second, r.segment(data, i, 2))
			}
			if n, ver, err := r.dev.WriteRuns(second, 2, wantVer, true); err != nil || n != len(second) || ver != 0 {
				t.Fatalf("second WriteRuns = %d, %d, %v; want %d (the run ends in PSH)", n, ver, err, len(second))
			}
			r.expect(t, data)
			wantMerged := uint64(1)
			if tc.disable != 0 {
				wantMerged = 0
			}
			if _, merged := tunio.Superpackets(r.dev); merged != wantMerged {
				t.Fatalf("%d superpackets written, want %d", merged, wantMerged)
			}
		})
	}
}
