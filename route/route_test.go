package route

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func key(a netip.Addr) Key {
	var k Key
	if a.Is4() {
		k.Len = 4
		b := a.As4()
		copy(k.Data[:], b[:])
	} else {
		k.Len = 16
		k.Data = a.As16()
	}
	return k
}

func TestIPAddresses(t *testing.T) {
	v4 := make([]byte, 20)
	v4[0] = 0x45
	copy(v4[12:], []byte{10, 0, 0, 1})
	copy(v4[16:], []byte{10, 0, 0, 2})
	if k, err := IPSrc(v4); err != nil || k != key(netip.MustParseAddr("10.0.0.1")) {
		t.Fatalf("IPSrc = %v, %v", k, err)
	}
	if k, err := IPDst(v4); err != nil || k != key(netip.MustParseAddr("10.0.0.2")) {
		t.Fatalf("IPDst = %v, %v", k, err)
	}
	v6 := make([]byte, 40)
	v6[0] = 0x60
	src, dst := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	s16, d16 := src.As16(), dst.As16()
	copy(v6[8:], s16[:])
	copy(v6[24:], d16[:])
	if k, err := IPSrc(v6); err != nil || k != key(src) {
		t.Fatalf("IPSrc v6 = %v, %v", k, err)
	}
	if k, err := IPDst(v6); err != nil || k != key(dst) {
		t.Fatalf("IPDst v6 = %v, %v", k, err)
	}
	for _, bad := range [][]byte{nil, {0x45}, v4[:19], v6[:39], append([]byte{0x15}, v4[1:]...)} {
		if _, err := IPDst(bad); err == nil {
			t.Errorf("IPDst(%x) accepted", bad)
		}
	}
}

// VpnCloud payload.rs tests, byte for byte.
func TestFrameAddresses(t *testing.T) {
	plain := []byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 7, 8}
	src, _ := MACSrc(plain)
	dst, _ := MACDst(plain)
	if src != (Key{Len: 6, Data: [16]byte{1, 2, 3, 4, 5, 6}}) || dst != (Key{Len: 6, Data: [16]byte{6, 5, 4, 3, 2, 1}}) {
		t.Fatalf("untagged: %v %v", src, dst)
	}
	vlan := []byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0, 4, 210, 1, 2, 3, 4, 5, 6, 7, 8}
	src, _ = MACSrc(vlan)
	dst, _ = MACDst(vlan)
	if src != (Key{Len: 8, Data: [16]byte{4, 210, 1, 2, 3, 4, 5, 6}}) || dst != (Key{Len: 8, Data: [16]byte{4, 210, 6, 5, 4, 3, 2, 1}}) {
		t.Fatalf("tagged: %v %v", src, dst)
	}
	vlan0 := []byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0, 0xf0, 0, 1, 2}
	if dst, _ := MACDst(vlan0); dst.Len != 6 {
		t.Fatalf("VLAN id 0 must count as untagged: %v", dst)
	}
	if _, err := MACDst(nil); err == nil {
		t.Fatal("empty frame accepted")
	}
	if _, err := MACDst([]byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0x00}); err == nil {
		t.Fatal("truncated VLAN frame accepted")
	}
}

// slowLookup is the reference: a linear scan for the longest match.
func slowLookup(entries []Entry[int], k Key) (int, bool) {
	best, bestBits, found := 0, -1, false
	for _, e := range entries {
		if e.Prefix.Len != k.Len {
			continue
		}
		bits := min(int(e.Bits), 8*int(k.Len))
		if bits > bestBits && mask(e.Prefix, bits) == mask(k, bits) {
			best, bestBits, found = e.Value, bits, true
		}
	}
	return best, found
}

func randKey(r *rand.Rand, l uint8) Key {
	k := Key{Len: l}
	for i := 0; i < int(l); i++ {
		k.Data[i] = byte(r.IntN(4)) // few distinct bytes: many overlaps
	}
	return k
}

func TestTableAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		var entries []Entry[int]
		seen := map[[2]Key]bool{}
		for i := 0; i < 1+r.IntN(200); i++ {
			l := []uint8{4, 6, 16}[r.IntN(3)]
			e := Entry[int]{Prefix: randKey(r, l), Bits: uint8(r.IntN(8*int(l) + 1)), Value: i}
			id := [2]Key{mask(e.Prefix, int(e.Bits)), {Len: e.Bits}}
			if seen[id] {
				continue // the first of equal prefixes wins; keep the reference simple
			}
			seen[id] = true
			entries = append(entries, e)
		}
		tbl := NewTable(entries)
		for i := 0; i < 500; i++ {
			k := randKey(r, []uint8{4, 6, 16}[r.IntN(3)])
			got, gok := tbl.Lookup(k)
			want, wok := slowLookup(entries, k)
			if got != want || gok != wok {
				t.Fatalf("round %d: Lookup(%v) = %d,%v want %d,%v", round, k, got, gok, want, wok)
			}
		}
	}
}

func TestTableEdges(t *testing.T) {
	tbl := NewTable([]Entry[string]{
		{Prefix: key(netip.MustParseAddr("0.0.0.0")), Bits: 0, Value: "default"},
		{Prefix: key(netip.MustParseAddr("10.0.0.0")), Bits: 8, Value: "ten"},
		{Prefix: key(netip.MustParseAddr("10.1.2.3")), Bits: 32, Value: "host"},
		{Prefix: key(netip.MustParseAddr("fd00::")), Bits: 128, Value: "v6host"},
	})
	for addr, want := range map[string]string{"10.1.2.3": "host", "10.1.2.4": "ten", "192.168.0.1": "default", "fd00::": "v6host"} {
		if got, _ := tbl.Lookup(key(netip.MustParseAddr(addr))); got != want {
			t.Errorf("%s -> %q, want %q", addr, got, want)
		}
	}
	if _, ok := tbl.Lookup(key(netip.MustParseAddr("fd00::1"))); ok {
		t.Error("fd00::1 matched a /128 of fd00::")
	}
	var nilTable *Table[string]
	if _, ok := nilTable.Lookup(Key{Len: 4}); ok || nilTable.Len() != 0 {
		t.Error("nil table found something")
	}
	if tbl.Len() != 4 {
		t.Errorf("Len = %d", tbl.Len())
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tbl := NewTable([]Entry[int]{{Prefix: key(netip.MustParseAddr("10.0.0.0")), Bits: 8, Value: 1}})
	pkt := make([]byte, 20)
	pkt[0] = 0x45
	copy(pkt[16:], []byte{10, 9, 9, 9})
	allocs := testing.AllocsPerRun(1000, func() {
		k, _ := IPDst(pkt)
		if v, _ := tbl.Lookup(k); v != 1 {
			t.Fatal("lookup failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per lookup", allocs)
	}
}

func FuzzParsers(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Add([]byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0, 4, 210, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		IPDst(b)
		IPSrc(b)
		MACDst(b)
		MACSrc(b)
	})
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		r := rand.New(rand.NewPCG(3, 4))
		entries := make([]Entry[int], n)
		for i := range entries {
			var d [4]byte
			for j := range d {
				d[j] = byte(r.UintN(256))
			}
			entries[i] = Entry[int]{Prefix: key(netip.AddrFrom4(d)), Bits: uint8(16 + r.IntN(17)), Value: i}
		}
		tbl := NewTable(entries)
		k := key(netip.MustParseAddr("10.1.2.3"))
		b.Run(map[int]string{10: "10", 1000: "1000", 100000: "100000"}[n], func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				k.Data[3] = byte(i)
				tbl.Lookup(k)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}
