package tuntest

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestUDPPacketRoundTrip(t *testing.T) {
	for _, tc := range []struct{ src, dst string }{
		{"10.0.0.1:1000", "10.0.0.2:2000"},
		{"[fd00::1]:1000", "[fd00::2]:2000"},
	} {
		src, dst := netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
		for _, payload := range [][]byte{nil, []byte("x"), []byte("hello world")} {
			pkt := UDPPacket(src, dst, payload)
			s, d, p, ok := ParseUDPPacket(pkt)
			if !ok || s != src || d != dst || !bytes.Equal(p, payload) {
				t.Fatalf("%s: parse = %v %v %v %q", tc.src, ok, s, d, p)
			}
			// The UDP checksum over pseudo header + datagram must verify to 0.
			hl := 20
			if src.Addr().Is6() {
				hl = 40
			}
			udp := pkt[hl:]
			if c := checksum(udp, pseudoHeaderSum(src.Addr(), dst.Addr(), ProtoUDP, len(udp))); c != 0 {
				t.Fatalf("%s: udp checksum does not verify: %#x", tc.src, c)
			}
			if src.Addr().Is4() && checksum(pkt[:20], 0) != 0 {
				t.Fatalf("ipv4 header checksum does not verify")
			}
		}
	}
}

func TestChecksumKnownVector(t *testing.T) {
	// RFC 1071 example words 0x0001 0xf203 0xf4f5 0xf6f7 sum to 0xddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := checksum(b, 0); got != ^uint16(0xddf2) {
		t.Fatalf("checksum = %#x", got)
	}
	if got := checksum([]byte{0xff}, 0); got != ^uint16(0xff00) {
		t.Fatalf("odd checksum = %#x", got)
	}
}

func TestParseUDPPacketRejectsMalformed(t *testing.T) {
	good := UDPPacket(netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"), []byte("abc"))
	bad := [][]byte{nil, {0x45}, good[:27], {0x70, 0, 0, 0}}
	opts := append([]byte(nil), good...)
	opts[0] = 0x46
	bad = append(bad, opts)
	icmp := append([]byte(nil), good...)
	icmp[9] = ProtoICMP
	bad = append(bad, icmp)
	longLen := append([]byte(nil), good...)
	longLen[25] = 200
	bad = append(bad, longLen)
	for i := range len(good) {
		bad = append(bad, good[:i])
	}
	for i, b := range bad {
		if _, _, _, ok := ParseUDPPacket(b); ok {
			t.Errorf("case %d (%x) parsed", i, b)
		}
	}
}

func FuzzParseUDPPacket(f *testing.F) {
	f.Add(UDPPacket(netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"), []byte("abc")))
	f.Add(UDPPacket(netip.MustParseAddrPort("[::1]:1"), netip.MustParseAddrPort("[::2]:2"), []byte("abc")))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, p, ok := ParseUDPPacket(b); ok && len(p) > len(b) {
			t.Fatal("payload longer than packet")
		}
	})
}

func TestEthernetFrame(t *testing.T) {
	dst := [6]byte{1, 2, 3, 4, 5, 6}
	src := [6]byte{7, 8, 9, 10, 11, 12}
	f := EthernetFrame(dst, src, EtherTypeIPv4, []byte("pl"))
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 'p', 'l'}
	if !bytes.Equal(f, want) {
		t.Fatalf("frame = %x", f)
	}
}
