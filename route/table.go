package route

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// Entry is one claim: the first Bits bits of Prefix, mapped to Value.
type Entry[V any] struct {
	Prefix Key
	Bits   uint8
	Value  V
}

// Table is an immutable longest-prefix-match table. Build it with
// [NewTable]; it is never modified afterwards, so any number of goroutines
// may call Lookup concurrently without locks. A nil *Table finds nothing.
type Table[V any] struct {
	values []V
	// sub holds one sub-table per key length (index = Key.Len).
	sub [17]subTable
	n   int
}

// subTable holds the prefixes of one key length.
type subTable struct {
	// lens are the distinct prefix lengths present, ascending; the lookup
	// binary-searches over them.
	lens []uint8
	// slots is an open-addressing hash set (linear probing, load <= 1/2)
	// of real prefixes and markers, keyed by (masked bits, prefix length).
	slots []slot
	mask  uint64
}

type slot struct {
	k0, k1 uint64 // the masked key, big-endian halves
	plen   uint8
	used   bool
	// real is the value index of the prefix stored at exactly this
	// (bits, plen), or -1 for a pure marker.
	real int32
	// bmp is the value index of the longest real prefix (length <= plen)
	// that contains this slot's bits, or -1: the answer when the search
	// finds nothing longer.
	bmp int32
}

// NewTable builds a table from entries. The bits of a prefix past its
// length are ignored. When several entries have the same prefix and
// length, the first wins (as in VpnCloud's ClaimTable, which keeps the
// first claim of the longest length). Entries that never match in VpnCloud
// are dropped: Prefix.Len over 16, or Bits over 8*Prefix.Len.
func NewTable[V any](entries []Entry[V]) *Table[V] {
	t := &Table[V]{}
	var byLen [17][]int // indices of valid entries per key length
	for i, e := range entries {
		if e.Prefix.Len > 16 || int(e.Bits) > 8*int(e.Prefix.Len) {
			continue
		}
		byLen[e.Prefix.Len] = append(byLen[e.Prefix.Len], i)
	}
	for l, idx := range byLen {
		if len(idx) > 0 {
			t.buildSub(&t.sub[l], entries, idx)
		}
	}
	return t
}

func (t *Table[V]) buildSub(st *subTable, entries []Entry[V], idx []int) {
	for _, i := range idx {
		st.lens = append(st.lens, entries[i].Bits)
	}
	slices.Sort(st.lens)
	st.lens = slices.Compact(st.lens)

	// Each prefix adds itself and at most bits.Len(len(lens)) markers.
	maxSlots := len(idx) * (bits.Len(uint(len(st.lens))) + 1)
	size := 4
	for size < 2*maxSlots {
		size <<= 1
	}
	st.slots = make([]slot, size)
	st.mask = uint64(size - 1)

	for _, i := range idx {
		e := entries[i]
		k0, k1 := halves(e.Prefix)
		lo, hi := 0, len(st.lens)-1
		for lo <= hi {
			mid := (lo + hi) / 2
			p := st.lens[mid]
			switch {
			case p == e.Bits:
				s := st.insert(k0, k1, p)
				if s.real < 0 { // the first of equal prefixes wins
					s.real = int32(len(t.values))
					t.values = append(t.values, e.Value)
					t.n++
				}
				lo = hi + 1
			case p < e.Bits:
				st.insert(k0, k1, p) // marker on the search path
				lo = mid + 1
			default:
				hi = mid - 1
			}
		}
	}
	// Best matching real prefix of every slot: probe the real prefixes of
	// its own and shorter lengths, longest first.
	for j := range st.slots {
		s := &st.slots[j]
		if !s.used {
			continue
		}
		if s.real >= 0 {
			s.bmp = s.real
			continue
		}
		for li := len(st.lens) - 1; li >= 0; li-- {
			p := st.lens[li]
			if p > s.plen {
				continue
			}
			m0, m1 := maskBits(p)
			if r := st.find(s.k0&m0, s.k1&m1, p); r != nil && r.real >= 0 {
				s.bmp = r.real
				break
			}
		}
	}
}

// insert returns the slot for (k masked to plen, plen), creating it.
func (st *subTable) insert(k0, k1 uint64, plen uint8) *slot {
	m0, m1 := maskBits(plen)
	k0, k1 = k0&m0, k1&m1
	for i := hash(k0, k1, plen) & st.mask; ; i = (i + 1) & st.mask {
		s := &st.slots[i]
		if !s.used {
			*s = slot{k0: k0, k1: k1, plen: plen, used: true, real: -1, bmp: -1}
			return s
		}
		if s.k0 == k0 && s.k1 == k1 && s.plen == plen {
			return s
		}
	}
}

// find returns the slot of an already masked key, or nil. The set is at
// most half full, so the probe always reaches an unused slot.
func (st *subTable) find(k0, k1 uint64, plen uint8) *slot {
	for i := hash(k0, k1, plen) & st.mask; ; i = (i + 1) & st.mask {
		s := &st.slots[i]
		if !s.used {
			return nil
		}
		if s.k0 == k0 && s.k1 == k1 && s.plen == plen {
			return s
		}
	}
}

// Lookup returns the value of the longest prefix that contains k, among
// prefixes of k's length. It does not allocate.
func (t *Table[V]) Lookup(k Key) (V, bool) {
	var zero V
	if t == nil || k.Len > 16 {
		return zero, false
	}
	st := &t.sub[k.Len]
	k0, k1 := halves(k)
	best := int32(-1)
	lo, hi := 0, len(st.lens)-1
	for lo <= hi {
		mid := int(uint(lo+hi) >> 1)
		p := st.lens[mid]
		m0, m1 := maskBits(p)
		if s := st.find(k0&m0, k1&m1, p); s != nil {
			if s.bmp >= 0 {
				best = s.bmp
			}
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	if best < 0 {
		return zero, false
	}
	return t.values[best], true
}

// Len returns the number of distinct prefixes in the table.
func (t *Table[V]) Len() int {
	if t == nil {
		return 0
	}
	return t.n
}

// halves returns k's significant bytes as two big-endian words, bytes past
// k.Len cleared.
func halves(k Key) (uint64, uint64) {
	m0, m1 := maskBits(8 * min(k.Len, 16))
	return binary.BigEndian.Uint64(k.Data[0:8]) & m0, binary.BigEndian.Uint64(k.Data[8:16]) & m1
}

// maskBits returns the masks keeping the first p (0..128) bits.
func maskBits(p uint8) (uint64, uint64) {
	if p <= 64 {
		return ^uint64(0) << (64 - p), 0 // p == 0: a shift by 64 gives 0
	}
	return ^uint64(0), ^uint64(0) << (128 - p)
}

// hash mixes a masked key and its prefix length (multiply-xorshift).
func hash(k0, k1 uint64, plen uint8) uint64 {
	h := k0*0x9e3779b97f4a7c15 ^ k1*0xc2b2ae3d27d4eb4f ^ uint64(plen)*0x165667b19e3779f9
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h
}
