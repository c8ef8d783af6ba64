package tunio

import (
	"bytes"
	"testing"
)

// coalesceAll runs findRun/finishRun over bufs as Write does and returns
// what would be written: each packet or superpacket made contiguous, with
// its virtio header (the zero header for single packets).
func coalesceAll(bufs [][]byte, offset int, tcp, udp bool) ([][]byte, []virtioHdr) {
	var out [][]byte
	var hdrs []virtioHdr
	for i := 0; i < len(bufs); {
		end, first, total, _ := findRun(bufs, offset, i, 0, tcp, udp)
		a := bufs[i][offset:]
		if end == i+1 {
			out, hdrs = append(out, append([]byte(nil), a...)), append(hdrs, virtioHdr{})
			i++
			continue
		}
		var lastFlags uint8
		if first.kind == kindTCP4 || first.kind == kindTCP6 {
			lastFlags = bufs[end-1][offset+first.iphLen+13]
		}
		h := finishRun(a, first, total, lastFlags)
		p := append([]byte(nil), a[:first.hdrLen+first.payload]...)
		for j := i + 1; j < end; j++ {
			p = append(p, bufs[j][offset+first.hdrLen:]...)
		}
		out, hdrs = append(out, p), append(hdrs, h)
		i = end
	}
	return out, hdrs
}

// stream makes n segments of one flow with mss payload bytes each (the last
// one lastLen bytes, if > 0), consecutive ids and sequence numbers.
func stream(base spec, n, mss, lastLen int) [][]byte {
	var pkts [][]byte
	seq := base.seq
	for i := range n {
		s := base
		l := mss
		if i == n-1 && lastLen > 0 {
			l = lastLen
		}
		s.payload, s.seq, s.id = pattern(int(seq-base.seq), l), seq, base.id+uint16(i)
		pkts = append(pkts, build(s))
		seq += uint32(l)
	}
	return pkts
}

func withOffset(pkts [][]byte, off int) [][]byte {
	bufs := make([][]byte, len(pkts))
	for i, p := range pkts {
		bufs[i] = append(make([]byte, off), p...)
	}
	return bufs
}

func TestCoalesceRoundTrip(t *testing.T) {
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	for _, tc := range []struct {
		name           string
		base           spec
		n, mss, last   int
		wantSuper      int
		wantSegsPerRun int
	}{
		{"tcp4", spec{flags: tcpFlagACK, seq: 0xfffffff0}, 10, 1360, 0, 1, 10},
		{"tcp4-psh-short-last", spec{flags: tcpFlagACK, opts: ts}, 7, 1348, 77, 1, 7},
		{"tcp6", spec{v6: true, flags: tcpFlagACK | tcpFlagECE}, 5, 1400, 0, 1, 5},
		{"udp4", spec{udp: true}, 6, 1372, 1000, 1, 6},
		{"udp6", spec{v6: true, udp: true}, 3, 1300, 0, 1, 3},
		{"tcp4-over-64k", spec{flags: tcpFlagACK}, 60, 1400, 0, 2, 46},
		{"tcp4-over-64-segments", spec{flags: tcpFlagACK}, 70, 500, 0, 2, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkts := stream(tc.base, tc.n, tc.mss, tc.last)
			if tc.name == "tcp4-psh-short-last" {
				pkts[len(pkts)-1] = build(spec{flags: tcpFlagACK | tcpFlagPSH, opts: ts, id: 6, seq: 6 * 1348, payload: pattern(6*1348, 77)})
			}
			const off = 9
			out, hdrs := coalesceAll(withOffset(pkts, off), off, true, true)
			if len(out) != tc.wantSuper {
				t.Fatalf("%d writes, want %d", len(out), tc.wantSuper)
			}
			var segs [][]byte
			for k, p := range out {
				h := hdrs[k]
				if h.flags != virtioFlagNeedsCsum || h.gsoType == gsoNone {
					t.Fatalf("write %d: header %+v, want a GSO superpacket", k, h)
				}
				if n := (len(p) - int(h.hdrLen) + int(h.gsoSize) - 1) / int(h.gsoSize); k == 0 && n != tc.wantSegsPerRun {
					t.Fatalf("first superpacket carries %d segments, want %d", n, tc.wantSegsPerRun)
				}
				if p[0]>>4 == 4 && len(p) > maxPacket {
					t.Fatalf("superpacket of %d bytes", len(p))
				}
				segs = append(segs, splitAll(t, h, p)...)
			}
			if len(segs) != len(pkts) {
				t.Fatalf("%d segments after split, want %d", len(segs), len(pkts))
			}
			for i := range segs {
				verify(t, segs[i])
				if !bytes.Equal(segs[i], pkts[i]) {
					t.Fatalf("segment %d differs after coalesce+split:\n got %x\nwant %x", i, segs[i][:60], pkts[i][:60])
				}
			}
		})
	}
}

func TestCoalesceRefuses(t *testing.T) {
	two := func(b spec, mod func(*spec)) [][]byte {
		a := b
		a.payload, a.id = pattern(0, 1000), 1
		c := b
		c.payload, c.seq, c.id = pattern(1000, 1000), b.seq+1000, 2
		if mod != nil {
			mod(&c)
		}
		return [][]byte{build(a), build(c)}
	}
	ack := spec{flags: tcpFlagACK}
	for _, tc := range []struct {
		name     string
		pkts     [][]byte
		tcp, udp bool
	}{
		{"tso off", two(ack, nil), false, true},
		{"uso off", two(spec{udp: true}, nil), true, false},
		{"seq gap", two(ack, func(s *spec) { s.seq++ }), true, true},
		{"other ack", two(ack, func(s *spec) { s.ack = 7 }), true, true},
		{"other port", two(ack, func(s *spec) { s.sport = 1 }), true, true},
		{"other dst", two(ack, func(s *spec) { s.dstLastOct = 9 }), true, true},
		{"other ttl", two(ack, func(s *spec) { s.ttl = 3 }), true, true},
		{"other tos", two(ack, func(s *spec) { s.tos = 4 }), true, true},
		{"other options", two(spec{flags: tcpFlagACK, opts: []byte{1, 1, 1, 1}}, func(s *spec) { s.opts = []byte{1, 1, 1, 0} }), true, true},
		{"fin", two(ack, func(s *spec) { s.flags |= tcpFlagFIN }), true, true},
		{"syn", two(spec{flags: tcpFlagACK | tcpFlagSYN}, nil), true, true},
		{"cwr", two(spec{flags: tcpFlagACK | tcpFlagCWR}, nil), true, true},
		{"psh first", two(spec{flags: tcpFlagACK | tcpFlagPSH}, func(s *spec) { s.flags = tcpFlagACK }), true, true},
		{"bad checksum second", two(ack, func(s *spec) { s.badCsum = true }), true, true},
		{"bad checksum first", [][]byte{build(spec{flags: tcpFlagACK, payload: pattern(0, 1000), badCsum: true}), build(spec{flags: tcpFlagACK, seq: 1000, payload: pattern(0, 1000)})}, true, true},
		{"larger second", two(ack, func(s *spec) { s.payload = pattern(0, 1001) }), true, true},
		{"ipv4 options", two(spec{flags: tcpFlagACK, ipv4Opts: true}, nil), true, true},
		{"v4 then v6", two(ack, func(s *spec) { s.v6 = true }), true, true},
		{"udp bad checksum", two(spec{udp: true}, func(s *spec) { s.badCsum = true }), true, true},
		{"no payload", [][]byte{build(spec{flags: tcpFlagACK}), build(spec{flags: tcpFlagACK})}, true, true},
		{"garbage", [][]byte{{0x45, 1, 2}, {0x60}, {}}, true, true},
	} {
		out, hdrs := coalesceAll(tc.pkts, 0, tc.tcp, tc.udp)
		if len(out) != len(tc.pkts) {
			t.Errorf("%s: %d writes for %d packets, want no coalescing", tc.name, len(out), len(tc.pkts))
			continue
		}
		for i := range out {
			if hdrs[i] != (virtioHdr{}) || !bytes.Equal(out[i], tc.pkts[i]) {
				t.Errorf("%s: packet %d changed or got a header %+v", tc.name, i, hdrs[i])
			}
		}
	}
	// A short segment ends a run: what follows starts a new one.
	pkts := stream(spec{flags: tcpFlagACK}, 3, 1000, 0)
	short := build(spec{flags: tcpFlagACK, seq: 3000, id: 3, payload: pattern(3000, 10)})
	more := stream(spec{flags: tcpFlagACK, seq: 3010, id: 4}, 2, 1000, 0)
	out, _ := coalesceAll(append(append(pkts, short), more...), 0, true, true)
	if len(out) != 2 {
		t.Fatalf("short segment mid-stream: %d writes, want 2", len(out))
	}
}

func TestCoalesceAllocationFree(t *testing.T) {
	pkts := stream(spec{flags: tcpFlagACK}, 40, 1360, 0)
	bufs := withOffset(pkts, 1)
	orig := withOffset(pkts, 1)
	allocs := testing.AllocsPerRun(20, func() {
		for i := range bufs {
			copy(bufs[i], orig[i])
		}
		end, first, total, _ := findRun(bufs, 1, 0, 0, true, true)
		finishRun(bufs[0][1:], first, total, 0)
		if end != len(bufs) {
			t.Fatalf("run ends at %d", end)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per run", allocs)
	}
}

func FuzzCoalesce(f *testing.F) {
	seed := func(pkts [][]byte) []byte {
		var b []byte
		for _, p := range pkts {
			b = append(b, byte(len(p)>>8), byte(len(p)))
			b = append(b, p...)
		}
		return b
	}
	f.Add(seed(stream(spec{flags: tcpFlagACK}, 4, 100, 50)))
	f.Add(seed(stream(spec{v6: true, udp: true}, 3, 80, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var pkts [][]byte
		for len(data) >= 2 {
			n := min(int(data[0])<<8|int(data[1]), len(data)-2)
			pkts = append(pkts, append([]byte(nil), data[2:2+n]...))
			data = data[2+n:]
		}
		if len(pkts) == 0 {
			return
		}
		out, hdrs := coalesceAll(pkts, 0, true, true)
		for k, p := range out {
			if hdrs[k] == (virtioHdr{}) {
				continue
			}
			// Every superpacket splits back into valid segments whose
			// payloads are those of the packets it was made from.
			var s splitter
			h := hdrs[k]
			if err := s.reset(&h, p); err != nil {
				t.Fatalf("superpacket %d does not split: %v", k, err)
			}
			buf := make([]byte, 70000)
			for s.pending() {
				n, err := s.nextInto(buf)
				if err != nil {
					t.Fatal(err)
				}
				if fold(pseudoSum(addrsOf(buf[:n]), protoOf(buf[:n]), n-int(h.csumStart))+sum16(buf[h.csumStart:n])) != 0xffff {
					t.Fatalf("segment of superpacket %d has a bad checksum", k)
				}
			}
		}
	})
}

func addrsOf(p []byte) []byte {
	if p[0]>>4 == 6 {
		return p[8:40]
	}
	return p[12:20]
}

func protoOf(p []byte) uint8 {
	if p[0]>>4 == 6 {
		return p[6]
	}
	return p[9]
}

func BenchmarkCoalesce(b *testing.B) {
	for _, mss := range []int{1360, 1400} {
		b.Run(map[int]string{1360: "mss1360", 1400: "mss1400"}[mss], func(b *testing.B) {
			n := (65535 - 40) / mss
			pkts := stream(spec{flags: tcpFlagACK}, n, mss, 0)
			bufs := withOffset(pkts, 1)
			hdr := make([][]byte, n) // pristine first header to restore
			for i := range bufs {
				hdr[i] = append([]byte(nil), bufs[i][:41]...)
			}
			b.SetBytes(int64(n * mss))
			for b.Loop() {
				copy(bufs[0], hdr[0])
				end, first, total, _ := findRun(bufs, 1, 0, 0, true, true)
				finishRun(bufs[0][1:], first, total, 0)
				if end != n {
					b.Fatalf("run of %d", end)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// TestFindRunOpen checks which runs findRun reports open (a later packet
// could extend them, so WriteRuns may hold them back) and that trusted
// packets are not verified again.
func TestFindRunOpen(t *testing.T) {
	ack := spec{flags: tcpFlagACK}
	psh := stream(ack, 3, 1000, 0)
	psh[2] = build(spec{flags: tcpFlagACK | tcpFlagPSH, seq: 2000, id: 2, payload: pattern(2000, 1000)})
	full := stream(ack, 46, 1400, 0) // 46 × 1400 + 40: no room for a 47th
	for _, tc := range []struct {
		name     string
		pkts     [][]byte
		end      int
		wantOpen bool
	}{
		{"tcp run to the end", stream(ack, 5, 1000, 0), 5, true},
		{"udp run to the end", stream(spec{udp: true}, 4, 500, 0), 4, false},
		{"lone udp datagram", stream(spec{udp: true}, 1, 500, 0), 1, false},
		{"lone segment", stream(ack, 1, 1000, 0), 1, true},
		{"short last", stream(ack, 4, 1000, 10), 4, false},
		{"psh last", psh, 3, false},
		{"lone psh", psh[2:], 1, false},
		{"full", full, 46, false},
		{"maxRunSegments", stream(ack, maxRunSegments, 100, 0), maxRunSegments, false},
		{"no payload", [][]byte{build(ack)}, 1, false},
		{"ends in another flow", append(stream(ack, 3, 1000, 0), build(spec{flags: tcpFlagACK, sport: 9, payload: pattern(0, 1000)})), 3, false},
	} {
		end, _, _, open := findRun(tc.pkts, 0, 0, 0, true, true)
		if end != tc.end || open != tc.wantOpen {
			t.Errorf("%s: end %d open %v, want %d %v", tc.name, end, open, tc.end, tc.wantOpen)
		}
	}
	// Without TSO a TCP segment is never open.
	if _, _, _, open := findRun(stream(ack, 1, 1000, 0), 0, 0, 0, false, true); open {
		t.Error("a TCP segment is open with TSO off")
	}
	// A bad checksum among the trusted packets is not seen (they were
	// verified when held back); after them it ends the run as always.
	bad := stream(ack, 4, 1000, 0)
	bad[1] = build(spec{flags: tcpFlagACK, seq: 1000, id: 1, payload: pattern(1000, 1000), badCsum: true})
	if end, _, _, open := findRun(bad, 0, 0, 2, true, true); end != 4 || !open {
		t.Errorf("bad checksum within the trusted: end %d open %v, want 4 true", end, open)
	}
	if end, _, _, _ := findRun(bad, 0, 0, 1, true, true); end != 1 {
		t.Errorf("bad checksum after the trusted: end %d, want 1", end)
	}
}
