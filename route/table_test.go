package route

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/peercloud/peercloud/internal/testenv"
)

// slowLookup is VpnCloud's ClaimTable::lookup cold path: a linear scan for
// the longest matching claim (Range::matches), the first of equal lengths
// winning.
func slowLookup[V any](entries []Entry[V], k Key) (V, bool) {
	var best V
	bestLen := -1
	for _, e := range entries {
		if e.Prefix.Len != k.Len || int(e.Bits) <= bestLen {
			continue
		}
		match := 0
		for i := 0; i < int(k.Len); i++ {
			m := k.Data[i] ^ e.Prefix.Data[i]
			match += leadingZeros8(m)
			if m != 0 {
				break
			}
		}
		if match >= int(e.Bits) {
			best, bestLen = e.Value, int(e.Bits)
		}
	}
	return best, bestLen >= 0
}

func leadingZeros8(b byte) int {
	n := 0
	for i := 7; i >= 0 && b&(1<<i) == 0; i-- {
		n++
	}
	return n
}

func key(s string) Key { return KeyFromAddr(netip.MustParseAddr(s)) }

// randKey draws from few distinct bytes so prefixes overlap a lot.
func randKey(r *rand.Rand, l uint8, alphabet int) Key {
	k := Key{Len: l}
	for i := 0; i < int(l); i++ {
		k.Data[i] = byte(r.IntN(alphabet)) << uint(r.IntN(2)*7)
	}
	return k
}

func TestTableAgainstReference(t *testing.T) {
	rounds := 300
	if testenv.Short() {
		rounds = 60
	}
	r := rand.New(rand.NewPCG(1, 2))
	lens := []uint8{0, 4, 6, 8, 16}
	for round := 0; round < rounds; round++ {
		alphabet := 1 + r.IntN(4)
		n := 1 + r.IntN(300)
		entries := make([]Entry[int], n)
		for i := range entries {
			l := lens[r.IntN(len(lens))]
			bitsMax := 8*int(l) + 1
			if r.IntN(20) == 0 {
				bitsMax += 8 // sometimes invalid: longer than the key
			}
			entries[i] = Entry[int]{Prefix: randKey(r, l, alphabet), Bits: uint8(r.IntN(bitsMax)), Value: i}
		}
		tbl := NewTable(entries)
		for i := 0; i < 1000; i++ {
			var k Key
			if i%2 == 0 {
				// Near an existing prefix: its bits, then random tail.
				e := entries[r.IntN(n)]
				k = e.Prefix
				if k.Len > 0 {
					k.Data[r.IntN(int(k.Len))] ^= byte(1 << r.IntN(8))
				}
			} else {
				k = randKey(r, lens[r.IntN(len(lens))], alphabet)
			}
			got, gok := tbl.Lookup(k)
			want, wok := slowLookup(entries, k)
			if got != want || gok != wok {
				t.Fatalf("round %d: Lookup(%v) = %d,%v want %d,%v", round, k, got, gok, want, wok)
			}
		}
	}
}

func TestTableEdgesIPv4(t *testing.T) {
	tbl := NewTable([]Entry[string]{
		{Prefix: key("0.0.0.0"), Bits: 0, Value: "default"},
		{Prefix: key("10.255.255.255"), Bits: 8, Value: "ten"}, // host bits ignored
		{Prefix: key("10.1.2.3"), Bits: 32, Value: "host"},
		{Prefix: key("10.1.2.0"), Bits: 31, Value: "pair"},
		{Prefix: key("10.1.2.0"), Bits: 31, Value: "dup"}, // first wins
		{Prefix: key("10.1.2.3"), Bits: 33, Value: "invalid"},
	})
	for addr, want := range map[string]string{
		"10.1.2.3": "host", "10.1.2.0": "pair", "10.1.2.1": "pair", "10.1.2.2": "ten", "10.1.2.4": "ten",
		"192.168.0.1": "default", "0.0.0.0": "default", "255.255.255.255": "default",
	} {
		if got, ok := tbl.Lookup(key(addr)); !ok || got != want {
			t.Errorf("%s -> %q %v, want %q", addr, got, ok, want)
		}
	}
	// An IPv4 /0 does not match IPv6 or MAC keys.
	for _, k := range []Key{key("::"), mk(6), mk(8), {Len: 17}, {Len: 255}} {
		if v, ok := tbl.Lookup(k); ok {
			t.Errorf("%v matched %q", k, v)
		}
	}
	if tbl.Len() != 4 {
		t.Errorf("Len = %d, want 4 (duplicate and invalid dropped)", tbl.Len())
	}
}

func TestTableEdgesIPv6(t *testing.T) {
	tbl := NewTable([]Entry[string]{
		{Prefix: key("::"), Bits: 0, Value: "default"},
		{Prefix: key("fd00::"), Bits: 8, Value: "ula"},
		{Prefix: key("fd00::1"), Bits: 128, Value: "host"},
		{Prefix: key("fd00:0:0:1::"), Bits: 64, Value: "net"},
		{Prefix: key("fd00:0:0:1:8000::"), Bits: 65, Value: "half"},
	})
	for addr, want := range map[string]string{
		"fd00::1": "host", "fd00::2": "ula", "fd00::": "ula", "2001:db8::1": "default",
		"fd00:0:0:1::5": "net", "fd00:0:0:1:8000::5": "half", "fd00:0:0:1:7fff::": "net",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "default",
	} {
		if got, ok := tbl.Lookup(key(addr)); !ok || got != want {
			t.Errorf("%s -> %q %v, want %q", addr, got, ok, want)
		}
	}
	if _, ok := tbl.Lookup(key("10.0.0.1")); ok {
		t.Error("IPv6 /0 matched an IPv4 key")
	}
}

func TestTableMACKeys(t *testing.T) {
	tbl := NewTable([]Entry[int]{
		{Prefix: mk(6, 1, 2, 3, 4, 5, 6), Bits: 48, Value: 1},
		{Prefix: mk(8, 0, 5, 1, 2, 3, 4, 5, 6), Bits: 64, Value: 2},
		{Prefix: mk(8, 0, 5), Bits: 16, Value: 3}, // everything on VLAN 5
	})
	for _, tc := range []struct {
		k    Key
		want int
		ok   bool
	}{
		{mk(6, 1, 2, 3, 4, 5, 6), 1, true},
		{mk(6, 1, 2, 3, 4, 5, 7), 0, false},
		{mk(8, 0, 5, 1, 2, 3, 4, 5, 6), 2, true},
		{mk(8, 0, 5, 9, 9, 9, 9, 9, 9), 3, true},
		{mk(8, 0, 6, 1, 2, 3, 4, 5, 6), 0, false},
	} {
		if got, ok := tbl.Lookup(tc.k); got != tc.want || ok != tc.ok {
			t.Errorf("%v -> %d %v, want %d %v", tc.k, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLookupIgnoresBytesPastLen(t *testing.T) {
	tbl := NewTable([]Entry[int]{{Prefix: key("10.1.2.3"), Bits: 32, Value: 7}})
	k := key("10.1.2.3")
	k.Data[4], k.Data[15] = 0xff, 0xee
	if v, ok := tbl.Lookup(k); !ok || v != 7 {
		t.Fatalf("garbage past Len changed the lookup: %d %v", v, ok)
	}
}

func TestNilAndEmptyTable(t *testing.T) {
	var nilTable *Table[string]
	if _, ok := nilTable.Lookup(key("10.0.0.1")); ok || nilTable.Len() != 0 {
		t.Error("nil table found something")
	}
	empty := NewTable[string](nil)
	if _, ok := empty.Lookup(key("10.0.0.1")); ok || empty.Len() != 0 {
		t.Error("empty table found something")
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tbl := NewTable([]Entry[*int]{
		{Prefix: key("10.0.0.0"), Bits: 8, Value: new(int)},
		{Prefix: key("10.1.0.0"), Bits: 16, Value: new(int)},
		{Prefix: key("fd00::"), Bits: 8, Value: new(int)},
	})
	pkt := make([]byte, 20)
	pkt[0] = 0x45
	copy(pkt[16:], []byte{10, 1, 9, 9})
	k6 := key("fd00::1")
	allocs := testing.AllocsPerRun(1000, func() {
		k, _ := IPDst(pkt)
		if v, _ := tbl.Lookup(k); v == nil {
			t.Fatal("lookup failed")
		}
		if v, _ := tbl.Lookup(k6); v == nil {
			t.Fatal("lookup failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per lookup", allocs)
	}
}

// TestConcurrentLookupsWhilePublishing runs lookups on snapshots while a
// "control goroutine" publishes new tables; -race checks it needs no lock.
func TestConcurrentLookupsWhilePublishing(t *testing.T) {
	var cur atomic.Pointer[Table[int]]
	build := func(gen int) *Table[int] {
		return NewTable([]Entry[int]{{Prefix: key("10.0.0.0"), Bits: 8, Value: gen}, {Prefix: key("10.0.0.1"), Bits: 32, Value: -gen}})
	}
	cur.Store(build(1))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tbl := cur.Load()
				a, ok1 := tbl.Lookup(key("10.9.9.9"))
				b, ok2 := tbl.Lookup(key("10.0.0.1"))
				if !ok1 || !ok2 || a != -b {
					t.Errorf("inconsistent snapshot: %d %d", a, b)
					return
				}
			}
		}()
	}
	for gen := 2; gen < 200; gen++ {
		cur.Store(build(gen))
	}
	stop.Store(true)
	wg.Wait()
}

func TestKeyHelpers(t *testing.T) {
	if k := key("10.1.2.3"); k != mk(4, 10, 1, 2, 3) || k.String() != "10.1.2.3" {
		t.Errorf("IPv4 key %v %q", k, k.String())
	}
	if k := key("fd00::1"); k.Len != 16 || k.String() != "fd00:0000:0000:0000:0000:0000:0000:0001" {
		t.Errorf("IPv6 key %q", k.String())
	}
	if s := mk(6, 1, 2, 3, 0xa, 0xb, 0xc).String(); s != "01:02:03:0a:0b:0c" {
		t.Errorf("MAC %q", s)
	}
	if s := mk(8, 4, 210, 1, 2, 3, 4, 5, 6).String(); s != "vlan1234/01:02:03:04:05:06" {
		t.Errorf("VLAN %q", s)
	}
	if s := mk(3, 1, 2, 0xff).String(); s != "0102ff" {
		t.Errorf("other %q", s)
	}
	if KeyFromAddr(netip.Addr{}) != (Key{}) {
		t.Error("zero Addr gives a non-zero Key")
	}
	k, err := KeyFromBytes([]byte{1, 2, 3, 4, 5, 6})
	if err != nil || k != mk(6, 1, 2, 3, 4, 5, 6) || string(k.Bytes()) != "\x01\x02\x03\x04\x05\x06" {
		t.Errorf("KeyFromBytes = %v %v", k, err)
	}
	if _, err := KeyFromBytes(make([]byte, 17)); err == nil {
		t.Error("17-byte key accepted")
	}
	a, b := mk(4, 1, 2, 3, 4), mk(4, 1, 2, 3, 4)
	b.Data[9] = 1
	if !a.Equal(b) || a.Equal(mk(6, 1, 2, 3, 4)) || a.Equal(mk(4, 1, 2, 3, 5)) {
		t.Error("Equal must compare Len and significant bytes only")
	}
	if (Key{Len: 200}).Bytes() == nil || len((Key{Len: 200}).Bytes()) != 16 {
		t.Error("Bytes of an invalid key must clamp")
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, fam := range []struct {
		name string
		l    uint8
	}{{"IPv4", 4}, {"IPv6", 16}} {
		for _, n := range []int{10, 1000, 100000} {
			r := rand.New(rand.NewPCG(3, 4))
			entries := make([]Entry[int], n)
			for i := range entries {
				var k Key
				k.Len = fam.l
				for j := 0; j < int(fam.l); j++ {
					k.Data[j] = byte(r.UintN(256))
				}
				entries[i] = Entry[int]{Prefix: k, Bits: uint8(r.IntN(8*int(fam.l) + 1)), Value: i}
			}
			tbl := NewTable(entries)
			keys := make([]Key, 4096)
			for i := range keys {
				keys[i] = entries[r.IntN(n)].Prefix
				keys[i].Data[fam.l-1] ^= byte(i)
			}
			b.Run(fmt.Sprintf("%s/%d", fam.name, n), func(b *testing.B) {
				b.ReportAllocs()
				hits := 0
				for i := 0; i < b.N; i++ {
					if _, ok := tbl.Lookup(keys[i&4095]); ok {
						hits++
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			})
		}
	}
}
