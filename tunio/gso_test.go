package tunio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// splitAll splits super (described by h) into 2048-byte buffers.
func splitAll(t *testing.T, h virtioHdr, super []byte) [][]byte {
	t.Helper()
	var s splitter
	if err := s.reset(&h, super); err != nil {
		t.Fatalf("reset: %v", err)
	}
	var segs [][]byte
	for s.pending() {
		buf := make([]byte, 2048)
		n, err := s.nextInto(buf)
		if err != nil {
			t.Fatalf("segment %d: %v", len(segs), err)
		}
		segs = append(segs, buf[:n])
	}
	return segs
}

func gsoHdr(v6, udp bool, iphLen, mss int) virtioHdr {
	h := virtioHdr{flags: virtioFlagNeedsCsum, gsoSize: uint16(mss), csumStart: uint16(iphLen), csumOffset: tcpChecksumOff, gsoType: gsoTCPv4}
	switch {
	case udp:
		h.gsoType, h.csumOffset = gsoUDPL4, udpChecksumOff
	case v6:
		h.gsoType = gsoTCPv6
	}
	return h
}

func TestSplitSegments(t *testing.T) {
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2} // NOP NOP timestamp
	for _, tc := range []struct {
		name       string
		v6, udp    bool
		opts       []byte
		mss, total int
	}{
		{"tcp4", false, false, nil, 1360, 65535 - 40},
		{"tcp4-options-odd", false, false, ts, 1348, 10001},
		{"tcp6", true, false, nil, 1400, 60000},
		{"tcp6-options-exact", true, false, ts, 1000, 5000},
		{"udp4", false, true, nil, 1372, 7777},
		{"udp6-odd", true, true, nil, 1333, 4001},
		{"one-segment", false, false, nil, 1400, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := pattern(0, tc.total)
			super := build(spec{v6: tc.v6, udp: tc.udp, opts: tc.opts, seq: 0xfffff000, ack: 99, id: 0xfffe,
				flags: tcpFlagACK | tcpFlagPSH | tcpFlagFIN, payload: payload})
			iph := 20
			if tc.v6 {
				iph = 40
			}
			// The kernel leaves the pseudo-header sum in the transport
			// checksum and whatever in the IPv4 one: the segments'
			// checksums must not depend on either.
			csAt := iph + tcpChecksumOff
			if tc.udp {
				csAt = iph + udpChecksumOff
			}
			super[csAt], super[csAt+1] = 0xde, 0xad
			if !tc.v6 {
				super[10], super[11] = 0xbe, 0xef
			}
			hdrLen := len(super) - tc.total
			segs := splitAll(t, gsoHdr(tc.v6, tc.udp, iph, tc.mss), super)
			if want := (tc.total + tc.mss - 1) / tc.mss; len(segs) != want {
				t.Fatalf("%d segments, want %d", len(segs), want)
			}
			var got []byte
			for i, s := range segs {
				verify(t, s)
				if !tc.udp && !bytes.Equal(s[iph+20:hdrLen], super[iph+20:hdrLen]) {
					t.Fatalf("segment %d: transport header tail changed", i)
				}
				pl := s[hdrLen:]
				if i < len(segs)-1 && len(pl) != tc.mss {
					t.Fatalf("segment %d has %d payload bytes, want %d", i, len(pl), tc.mss)
				}
				if !tc.v6 && binary.BigEndian.Uint16(s[4:]) != uint16(0xfffe+i) {
					t.Fatalf("segment %d IPv4 id %#x", i, binary.BigEndian.Uint16(s[4:]))
				}
				if !tc.udp {
					if seq := binary.BigEndian.Uint32(s[iph+4:]); seq != 0xfffff000+uint32(len(got)) {
						t.Fatalf("segment %d seq %#x", i, seq)
					}
					f := s[iph+13]
					last := i == len(segs)-1
					if (f&(tcpFlagPSH|tcpFlagFIN) != 0) != last || f&tcpFlagACK == 0 {
						t.Fatalf("segment %d flags %#x (last %v)", i, f, last)
					}
				}
				got = append(got, pl...)
			}
			if !bytes.Equal(got, payload) {
				t.Fatal("reassembled payload differs")
			}
		})
	}
}

func TestSplitECNClearsCWRAfterFirst(t *testing.T) {
	super := build(spec{flags: tcpFlagACK | tcpFlagCWR, payload: pattern(0, 3000)})
	h := gsoHdr(false, false, 20, 1000)
	h.gsoType |= gsoECN
	segs := splitAll(t, h, super)
	for i, s := range segs {
		verify(t, s)
		if (s[33]&tcpFlagCWR != 0) != (i == 0) {
			t.Fatalf("segment %d flags %#x", i, s[33])
		}
	}
}

func TestSplitKeepsPosition(t *testing.T) {
	super := build(spec{payload: pattern(0, 5000), flags: tcpFlagACK})
	var s splitter
	h := gsoHdr(false, false, 20, 1000)
	if err := s.reset(&h, super); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for i := range 5 {
		if !s.pending() {
			t.Fatalf("no segment %d", i)
		}
		if n, err := s.nextInto(buf); err != nil || n != 1040 {
			t.Fatalf("segment %d: %d, %v", i, n, err)
		}
	}
	if s.pending() {
		t.Fatal("pending after the last segment")
	}
}

func TestSplitSegmentTooLarge(t *testing.T) {
	super := build(spec{payload: pattern(0, 5000), flags: tcpFlagACK})
	var s splitter
	h := gsoHdr(false, false, 20, 1400)
	if err := s.reset(&h, super); err != nil {
		t.Fatal(err)
	}
	if _, err := s.nextInto(make([]byte, 1000)); !errors.Is(err, ErrSegmentTooLarge) {
		t.Fatalf("err = %v, want ErrSegmentTooLarge", err)
	}
	if s.pending() {
		t.Fatal("superpacket kept after a failed segment")
	}
}

func TestSplitRejectsMalformed(t *testing.T) {
	good4 := build(spec{payload: pattern(0, 3000), flags: tcpFlagACK})
	good6 := build(spec{v6: true, payload: pattern(0, 3000), flags: tcpFlagACK})
	udp4 := build(spec{udp: true, payload: pattern(0, 3000)})
	badDoff := append([]byte(nil), good4...)
	badDoff[32] = 0x40 // data offset 4
	hugeDoff := append([]byte(nil), good4[:50]...)
	hugeDoff[32] = 0xf0
	opts4 := build(spec{ipv4Opts: true, payload: pattern(0, 3000), flags: tcpFlagACK})
	for _, tc := range []struct {
		name string
		h    virtioHdr
		pkt  []byte
	}{
		{"zero mss", gsoHdr(false, false, 20, 0), good4},
		{"empty", gsoHdr(false, false, 20, 1000), nil},
		{"short", gsoHdr(false, false, 20, 1000), good4[:19]},
		{"v6 type for v4", gsoHdr(true, false, 20, 1000), good4},
		{"v4 type for v6", gsoHdr(false, false, 40, 1000), good6},
		{"short v6", gsoHdr(true, false, 40, 1000), good6[:30]},
		{"udp type for tcp", gsoHdr(false, true, 20, 1000), good4},
		{"tcp type for udp", gsoHdr(false, false, 20, 1000), udp4},
		{"unknown type", virtioHdr{gsoType: 3, gsoSize: 1000, csumStart: 20}, good4},
		{"csum start off", gsoHdr(false, false, 24, 1000), good4},
		{"ip version 5", gsoHdr(false, false, 20, 1000), append([]byte{0x55}, good4[1:]...)},
		{"ihl 4", gsoHdr(false, false, 16, 1000), append([]byte{0x44}, good4[1:]...)},
		{"doff 4", gsoHdr(false, false, 20, 1000), badDoff},
		{"doff past end", gsoHdr(false, false, 20, 1000), hugeDoff},
		{"headers only", gsoHdr(false, false, 20, 1000), good4[:40]},
		{"ipv4 options csum start", gsoHdr(false, false, 20, 1000), opts4},
	} {
		var s splitter
		h := tc.h
		if err := s.reset(&h, tc.pkt); !errors.Is(err, ErrBadVnetHdr) {
			t.Errorf("%s: err = %v, want ErrBadVnetHdr", tc.name, err)
		}
		if s.pending() {
			t.Errorf("%s: pending after a rejected reset", tc.name)
		}
	}
	// IPv4 options are fine when csumStart says so.
	segs := splitAll(t, gsoHdr(false, false, 24, 1000), opts4)
	for _, s := range segs {
		verify(t, s)
	}
}

func TestCompleteChecksum(t *testing.T) {
	for _, udp := range []bool{false, true} {
		for _, v6 := range []bool{false, true} {
			p := build(spec{v6: v6, udp: udp, payload: pattern(3, 777), flags: tcpFlagACK})
			iph, off := 20, tcpChecksumOff
			addrs := p[12:20]
			proto := uint8(protoTCP)
			if v6 {
				iph, addrs = 40, p[8:40]
			}
			if udp {
				off, proto = udpChecksumOff, protoUDP
			}
			// What the kernel leaves: the pseudo-header sum in the field.
			binary.BigEndian.PutUint16(p[iph+off:], fold(pseudoSum(addrs, proto, len(p)-iph)))
			if err := completeChecksum(p, iph, off); err != nil {
				t.Fatal(err)
			}
			verify(t, p)
		}
	}
	p := make([]byte, 30)
	for _, c := range [][2]int{{30, 0}, {20, 9}, {29, 0}, {100, 6}} {
		if err := completeChecksum(p, c[0], c[1]); !errors.Is(err, ErrBadVnetHdr) {
			t.Errorf("start %d off %d: err = %v", c[0], c[1], err)
		}
	}
}

func TestSplitAllocationFree(t *testing.T) {
	super := build(spec{payload: pattern(0, 64000), flags: tcpFlagACK})
	h := gsoHdr(false, false, 20, 1360)
	buf := make([]byte, 2048)
	var s splitter
	allocs := testing.AllocsPerRun(50, func() {
		_ = s.reset(&h, super)
		for s.pending() {
			if _, err := s.nextInto(buf); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per superpacket", allocs)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte{1, 1, 0, 0, 0x50, 5, 20, 0, 16, 0}, build(spec{payload: pattern(0, 3000), flags: tcpFlagACK}))
	f.Add([]byte{1, 5, 0, 0, 0x10, 0, 40, 0, 6, 0}, build(spec{v6: true, udp: true, payload: pattern(0, 100)}))
	f.Fuzz(func(t *testing.T, hb, pkt []byte) {
		if len(hb) < virtioHdrLen {
			return
		}
		var h virtioHdr
		h.decode(hb)
		var s splitter
		if s.reset(&h, pkt) != nil {
			return
		}
		buf := make([]byte, 2048)
		for i := 0; s.pending(); i++ {
			n, err := s.nextInto(buf)
			if err != nil {
				return
			}
			if n > len(buf) || i > len(pkt) {
				t.Fatalf("segment %d of %d bytes", i, n)
			}
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	for _, mss := range []int{1360, 1400} {
		b.Run(map[int]string{1360: "mss1360", 1400: "mss1400"}[mss], func(b *testing.B) {
			payload := 65535 - 40
			super := build(spec{payload: pattern(0, payload), flags: tcpFlagACK})
			h := gsoHdr(false, false, 20, mss)
			buf := make([]byte, 2048)
			var s splitter
			segs := 0
			b.SetBytes(int64(payload))
			for b.Loop() {
				_ = s.reset(&h, super)
				for s.pending() {
					_, _ = s.nextInto(buf)
					segs++
				}
			}
			b.ReportMetric(float64(segs)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}
