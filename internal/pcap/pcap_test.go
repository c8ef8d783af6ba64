package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

const interopDir = "../../../shared/interop"

func TestReadInteropCaptures(t *testing.T) {
	want := map[string]int{
		"vpncloud-2.3.0-aes128-rotation.pcap": 195,
		"vpncloud-2.3.0-aes128.pcap":          12,
		"vpncloud-2.3.0-aes256.pcap":          15,
		"vpncloud-2.3.0-chacha20.pcap":        14,
		"vpncloud-2.3.0-default.pcap":         13,
		"vpncloud-2.3.0-plain.pcap":           12,
	}
	for name, n := range want {
		ps, err := ReadFile(filepath.Join(interopDir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(ps) != n {
			t.Errorf("%s: %d packets, want %d", name, len(ps), n)
		}
		for i, p := range ps {
			if p.Src.Port() != 3210 || p.Dst.Port() != 3210 || !p.Src.Addr().Is4() || len(p.Payload) == 0 {
				t.Errorf("%s #%d: %v > %v, %d bytes", name, i, p.Src, p.Dst, len(p.Payload))
			}
		}
	}
	ps, err := ReadFile(filepath.Join(interopDir, "vpncloud-2.3.0-plain.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	first := ps[0]
	if first.Src != netip.MustParseAddrPort("10.99.7.1:3210") || first.Dst != netip.MustParseAddrPort("10.99.7.2:3210") ||
		len(first.Payload) != 145 || first.Payload[0] != 0xff {
		t.Errorf("first packet: %v > %v, %d bytes %x", first.Src, first.Dst, len(first.Payload), first.Payload[:1])
	}
	if first.Time.Year() < 2024 || !first.Time.Before(ps[len(ps)-1].Time) {
		t.Errorf("timestamps: first %v, last %v", first.Time, ps[len(ps)-1].Time)
	}
	last := ps[len(ps)-1]
	if len(last.Payload) != 1 || last.Payload[0] != 0xff {
		t.Errorf("last packet %x, want the close message ff", last.Payload)
	}
}

// builder writes a pcap file in either byte order and timestamp unit.
type builder struct {
	order binary.ByteOrder
	nano  bool
	link  uint32
	buf   bytes.Buffer
}

func newBuilder(order binary.ByteOrder, nano bool) *builder {
	b := &builder{order: order, nano: nano, link: 1}
	return b
}

func (b *builder) header() {
	h := make([]byte, 24)
	magic := uint32(magicMicro)
	if b.nano {
		magic = magicNano
	}
	b.order.PutUint32(h[0:], magic)
	b.order.PutUint16(h[4:], 2)
	b.order.PutUint16(h[6:], 4)
	b.order.PutUint32(h[16:], 65535)
	b.order.PutUint32(h[20:], b.link)
	b.buf.Write(h)
}

func (b *builder) record(sec, frac uint32, frame []byte) {
	h := make([]byte, 16)
	b.order.PutUint32(h[0:], sec)
	b.order.PutUint32(h[4:], frac)
	b.order.PutUint32(h[8:], uint32(len(frame)))
	b.order.PutUint32(h[12:], uint32(len(frame)))
	b.buf.Write(h)
	b.buf.Write(frame)
}

func ether(etherType uint16, payload []byte) []byte {
	f := make([]byte, 12, 14+len(payload))
	f = binary.BigEndian.AppendUint16(f, etherType)
	return append(f, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	u := binary.BigEndian.AppendUint16(nil, sport)
	u = binary.BigEndian.AppendUint16(u, dport)
	u = binary.BigEndian.AppendUint16(u, uint16(8+len(payload)))
	u = append(u, 0, 0)
	return append(u, payload...)
}

func ipv4(proto byte, src, dst [4]byte, payload []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	h[8] = 64
	h[9] = proto
	copy(h[12:], src[:])
	copy(h[16:], dst[:])
	return append(h, payload...)
}

func ipv6(next byte, src, dst netip.Addr, payload []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6] = next
	h[7] = 64
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, payload...)
}

func TestReaderFormatsAndProtocols(t *testing.T) {
	a4, b4 := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	a6, b6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	frames := [][]byte{
		ether(0x0806, make([]byte, 28)),                                           // ARP: skipped
		ether(0x0800, ipv4(1, a4, b4, []byte{8, 0, 0, 0})),                        // ICMP: skipped
		ether(0x0800, append(ipv4(17, a4, b4, udp(1, 2, []byte("v4"))), 0, 0, 0)), // Ethernet padding
		ether(0x86DD, ipv6(17, a6, b6, udp(3, 4, []byte("v6")))),
		// IPv6 with a destination-options header before UDP.
		ether(0x86DD, ipv6(60, a6, b6, append([]byte{17, 0, 1, 4, 0, 0, 0, 0}, udp(5, 6, []byte("ext"))...))),
		ether(0x86DD, ipv6(58, a6, b6, []byte{128, 0, 0, 0})), // ICMPv6: skipped
		append(ether(0x8100, []byte{0, 5, 0x08, 0x00}), ipv4(17, a4, b4, udp(7, 8, []byte("vlan")))...),
		{1, 2, 3}, // runt frame: skipped
	}
	want := []Packet{
		{Src: netip.AddrPortFrom(netip.AddrFrom4(a4), 1), Dst: netip.AddrPortFrom(netip.AddrFrom4(b4), 2), Payload: []byte("v4")},
		{Src: netip.AddrPortFrom(a6, 3), Dst: netip.AddrPortFrom(b6, 4), Payload: []byte("v6")},
		{Src: netip.AddrPortFrom(a6, 5), Dst: netip.AddrPortFrom(b6, 6), Payload: []byte("ext")},
		{Src: netip.AddrPortFrom(netip.AddrFrom4(a4), 7), Dst: netip.AddrPortFrom(netip.AddrFrom4(b4), 8), Payload: []byte("vlan")},
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, nano := range []bool{false, true} {
			b := newBuilder(order, nano)
			b.header()
			for i, f := range frames {
				b.record(1700000000+uint32(i), 123, f)
			}
			rd, err := NewReader(bytes.NewReader(b.buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			var got []Packet
			for {
				p, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%v nano=%v: %v", order, nano, err)
				}
				got = append(got, p)
			}
			if len(got) != len(want) {
				t.Fatalf("%v nano=%v: %d packets, want %d", order, nano, len(got), len(want))
			}
			for i := range want {
				if got[i].Src != want[i].Src || got[i].Dst != want[i].Dst || !bytes.Equal(got[i].Payload, want[i].Payload) {
					t.Errorf("%v nano=%v #%d: %+v, want %+v", order, nano, i, got[i], want[i])
				}
			}
			wantNs := 123000
			if nano {
				wantNs = 123
			}
			if got[0].Time.Nanosecond() != wantNs || got[0].Time.Unix() != 1700000002 {
				t.Errorf("%v nano=%v: time %v", order, nano, got[0].Time)
			}
		}
	}
}

func TestReaderErrors(t *testing.T) {
	if _, err := NewReader(bytes.NewReader([]byte{0xd4, 0xc3, 0xb2})); !errors.Is(err, ErrTruncated) {
		t.Errorf("short header: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(make([]byte, 24))); !errors.Is(err, ErrBadMagic) {
		t.Errorf("zero magic: %v", err)
	}
	b := newBuilder(binary.LittleEndian, false)
	b.link = 101 // raw IP
	b.header()
	if _, err := NewReader(bytes.NewReader(b.buf.Bytes())); !errors.Is(err, ErrLinkType) {
		t.Errorf("link type 101: %v", err)
	}

	// Every cut of a real capture inside a record is ErrTruncated, a cut at
	// a record boundary a clean EOF.
	data, err := os.ReadFile(filepath.Join(interopDir, "vpncloud-2.3.0-plain.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	boundaries := map[int]bool{24: true}
	for off := 24; off+16 <= len(data); {
		off += 16 + int(binary.LittleEndian.Uint32(data[off+8:]))
		boundaries[off] = true
	}
	for n := 24; n < len(data); n++ {
		rd, err := NewReader(bytes.NewReader(data[:n]))
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = rd.Next()
		}
		if boundaries[n] != (err == io.EOF) || (err != io.EOF && !errors.Is(err, ErrTruncated)) {
			t.Errorf("cut at %d (boundary %v): %v", n, boundaries[n], err)
		}
	}

	// A record claiming more than any snap length.
	b = newBuilder(binary.LittleEndian, false)
	b.header()
	b.record(0, 0, nil)
	raw := b.buf.Bytes()
	binary.LittleEndian.PutUint32(raw[24+8:], 1<<30)
	rd, _ := NewReader(bytes.NewReader(raw))
	if _, err := rd.Next(); !errors.Is(err, ErrBadRecord) {
		t.Errorf("huge record: %v", err)
	}

	// A UDP datagram whose length field runs past the frame: reported, and
	// reading goes on.
	a4 := [4]byte{1, 1, 1, 1}
	short := ipv4(17, a4, a4, udp(1, 2, []byte("abc")))
	binary.BigEndian.PutUint16(short[20+4:], 100)
	b = newBuilder(binary.BigEndian, false)
	b.header()
	b.record(0, 0, ether(0x0800, short))
	b.record(0, 0, ether(0x0800, ipv4(17, a4, a4, udp(1, 2, []byte("ok")))))
	rd, _ = NewReader(bytes.NewReader(b.buf.Bytes()))
	if _, err := rd.Next(); !errors.Is(err, ErrShortPacket) {
		t.Errorf("short UDP: %v", err)
	}
	if p, err := rd.Next(); err != nil || string(p.Payload) != "ok" {
		t.Errorf("after short UDP: %+v %v", p, err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzReader: no file, however malformed, makes the reader panic or loop.
func FuzzReader(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(interopDir, "vpncloud-2.3.0-plain.pcap"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:200])
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range len(b) {
			if _, err := rd.Next(); err != nil && !errors.Is(err, ErrShortPacket) {
				return
			}
		}
	})
}
