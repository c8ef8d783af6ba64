package pipeline

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/route"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
	"github.com/peercloud/peercloud/udpio/udptest"
)

// tooBigSetup is a node with one direct peer (tunB) and one relayed peer
// (tunC, and an IPv6 address of it), RelayMTU 1386.
type tooBigSetup struct {
	p    *Pipeline
	dev  *tuntest.ChannelTUN
	snap *Snapshot
}

var tunC6 = netip.MustParseAddr("fd00::3")

func newTooBigSetup(t *testing.T) *tooBigSetup {
	t.Helper()
	sess, _ := keyedPair(t, aead.AES128, 5)
	relay := &Peer{Addr: addrR, Session: sess, NodeID: idR}
	relayed := &Peer{Addr: virtAC, Session: sess, NodeID: idC, Via: relay}
	direct := &Peer{Addr: addrB, Session: sess}
	conn, err := udptest.NewNetwork().Listen(addrA)
	if err != nil {
		t.Fatal(err)
	}
	dev := tuntest.NewChannelTUN("a", tunio.TUN, 1427)
	return &tooBigSetup{
		p:   New(Config{RelayMTU: 1427 - RelayOverhead}, dev, conn, nil),
		dev: dev,
		snap: &Snapshot{
			Routes: route.NewTable([]route.Entry[*Peer]{
				{Prefix: ipKey(tunB), Bits: 32, Value: direct},
				{Prefix: ipKey(tunC), Bits: 32, Value: relayed},
				{Prefix: ipKey(tunC6), Bits: 128, Value: relayed},
			}),
			ByAddr: map[netip.AddrPort]*Peer{addrB: direct, addrR: relay, virtAC: relayed},
			Peers:  []*Peer{direct, relay, relayed},
		},
	}
}

// classify runs one device packet through classifyOut and returns its slot.
func (x *tooBigSetup) classify(pkt []byte) *slot {
	b := newBatch(1, 2048)
	x.p.classifyOut(b, fillDevice(b, [][]byte{pkt}), x.snap)
	return &b.slots[0]
}

// ipv4 returns an IPv4 TCP-like packet of size bytes from tunA to dst.
func ipv4(dst netip.Addr, size int, df bool, proto byte) []byte {
	pkt := make([]byte, size)
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[2:], uint16(size))
	if df {
		pkt[6] = 0x40
	}
	pkt[8], pkt[9] = 64, proto
	s, d := tunA.As4(), dst.As4()
	copy(pkt[12:], s[:])
	copy(pkt[16:], d[:])
	binary.BigEndian.PutUint32(pkt[20:], 0x1f900050) // ports 8080 -> 80
	binary.BigEndian.PutUint32(pkt[24:], 12345)      // sequence number
	return pkt
}

func ipv6(src, dst netip.Addr, size int, next byte) []byte {
	pkt := make([]byte, size)
	pkt[0] = 0x60
	binary.BigEndian.PutUint16(pkt[4:], uint16(size-40))
	pkt[6], pkt[7] = next, 64
	s, d := src.As16(), dst.As16()
	copy(pkt[8:], s[:])
	copy(pkt[24:], d[:])
	return pkt
}

func (x *tooBigSetup) written(t *testing.T) []byte {
	t.Helper()
	select {
	case got := <-x.dev.Outbound:
		return got
	default:
		t.Fatal("nothing written to the device")
		return nil
	}
}

func (x *tooBigSetup) nothingWritten(t *testing.T, what string) {
	t.Helper()
	select {
	case got := <-x.dev.Outbound:
		t.Fatalf("%s: wrote %d bytes to the device", what, len(got))
	default:
	}
}

// TestTooBigIPv4: a DF packet too big for the relayed path is dropped and
// answered with an ICMP "fragmentation needed" naming RelayMTU, from the
// destination to the sender, quoting the header and 8 bytes, with valid
// checksums; packets that fit, packets without DF and packets to direct
// peers go out; ICMP errors are not answered; answers are rate-limited.
func TestTooBigIPv4(t *testing.T) {
	x := newTooBigSetup(t)
	mtu := 1427 - RelayOverhead
	for _, tc := range []struct {
		name string
		pkt  []byte
	}{
		{"fits", ipv4(tunC, mtu, true, 6)},
		{"no DF", ipv4(tunC, mtu+1, false, 6)},
		{"direct peer", ipv4(tunB, 1427, true, 6)},
	} {
		if s := x.classify(tc.pkt); s.verdict != vSend {
			t.Errorf("%s: verdict %d, want send", tc.name, s.verdict)
		}
		x.nothingWritten(t, tc.name)
	}
	big := ipv4(tunC, 1427, true, 6)
	if s := x.classify(big); s.verdict != vDrop {
		t.Fatalf("too big with DF: verdict %d", s.verdict)
	}
	icmp := x.written(t)
	if len(icmp) != 20+8+28 || checksum(icmp[:20], 0) != 0 || checksum(icmp[20:], 0) != 0 {
		t.Fatalf("ICMP of %d bytes, checksums %x %x", len(icmp), checksum(icmp[:20], 0), checksum(icmp[20:], 0))
	}
	if icmp[9] != 1 || icmp[20] != 3 || icmp[21] != 4 || int(binary.BigEndian.Uint16(icmp[26:])) != mtu {
		t.Fatalf("ICMP proto %d type %d code %d mtu %d", icmp[9], icmp[20], icmp[21], binary.BigEndian.Uint16(icmp[26:]))
	}
	if netip.AddrFrom4([4]byte(icmp[12:16])) != tunC || netip.AddrFrom4([4]byte(icmp[16:20])) != tunA {
		t.Fatalf("ICMP from %v to %v", netip.AddrFrom4([4]byte(icmp[12:16])), netip.AddrFrom4([4]byte(icmp[16:20])))
	}
	if string(icmp[28:]) != string(big[:28]) {
		t.Fatal("the quote is not the offending header and 8 bytes")
	}
	// At once again: dropped, but not answered (rate limit).
	if s := x.classify(big); s.verdict != vDrop {
		t.Fatal("second too-big packet sent")
	}
	x.nothingWritten(t, "second too-big packet")
	// An oversized ICMP error is dropped without an answer.
	x.p.tooBigNext.Store(0)
	icmpErr := ipv4(tunC, 1427, true, 1)
	icmpErr[20] = 3
	if s := x.classify(icmpErr); s.verdict != vDrop {
		t.Fatal("oversized ICMP error sent")
	}
	x.nothingWritten(t, "ICMP error")
	if d, sent := x.p.Counters.DropTooBig.Load(), x.p.Counters.TooBigSent.Load(); d != 3 || sent != 1 {
		t.Fatalf("DropTooBig %d TooBigSent %d, want 3 and 1", d, sent)
	}
}

// TestTooBigIPv6: an IPv6 packet too big for the relayed path gets an
// ICMPv6 "packet too big" that quotes as much of it as fits in 1280 bytes,
// with a valid checksum over the pseudo-header.
func TestTooBigIPv6(t *testing.T) {
	x := newTooBigSetup(t)
	src := netip.MustParseAddr("fd00::1")
	big := ipv6(src, tunC6, 1427, 17)
	if s := x.classify(big); s.verdict != vDrop {
		t.Fatalf("verdict %d", s.verdict)
	}
	icmp := x.written(t)
	if len(icmp) != minIPv6MTU || icmp[6] != 58 || icmp[40] != 2 || int(binary.BigEndian.Uint32(icmp[44:])) != 1427-RelayOverhead {
		t.Fatalf("ICMPv6 of %d bytes, next %d type %d mtu %d", len(icmp), icmp[6], icmp[40], binary.BigEndian.Uint32(icmp[44:]))
	}
	if netip.AddrFrom16([16]byte(icmp[8:24])) != tunC6 || netip.AddrFrom16([16]byte(icmp[24:40])) != src {
		t.Fatal("ICMPv6 addresses not swapped")
	}
	var pseudo uint32
	for i := 8; i < 40; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(icmp[i:]))
	}
	pseudo += uint32(len(icmp)-40) + 58
	if checksum(icmp[40:], pseudo) != 0 {
		t.Fatal("ICMPv6 checksum does not verify")
	}
	if string(icmp[48:]) != string(big[:minIPv6MTU-48]) {
		t.Fatal("the quote is not the start of the packet")
	}
	// An oversized ICMPv6 error is dropped without an answer.
	x.p.tooBigNext.Store(0)
	if s := x.classify(ipv6(src, tunC6, 1427, 58)); s.verdict != vDrop {
		t.Fatal("oversized ICMPv6 error sent")
	}
	x.nothingWritten(t, "ICMPv6 error")
}
