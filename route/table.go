package route

import (
	"slices"
)

// Entry is one claim: a prefix of Bits bits of Prefix, mapped to Value.
type Entry[V any] struct {
	Prefix Key
	Bits   uint8
	Value  V
}

// Table is an immutable longest-prefix-match table over Keys of any
// length: one hash map per (key length, prefix length), probed from the
// longest prefix down, as VpnCloud's ClaimTable. A nil *Table finds nothing.
// Safe for concurrent use; Lookup does not allocate.
type Table[V any] struct {
	// levels by key length (index = Len), longest prefix first.
	levels [17][]level[V]
}

type level[V any] struct {
	bits uint8
	m    map[Key]V
}

// NewTable builds a table. Bits beyond a prefix's length are ignored (the
// prefix is masked); a prefix longer than its key is clamped to the key.
// When two entries have the same prefix, the first wins.
func NewTable[V any](entries []Entry[V]) *Table[V] {
	t := &Table[V]{}
	for _, e := range entries {
		l := int(e.Prefix.Len)
		if l > 16 {
			continue
		}
		bits := min(int(e.Bits), 8*l)
		k := mask(e.Prefix, bits)
		lv := t.levels[l]
		i := slices.IndexFunc(lv, func(x level[V]) bool { return int(x.bits) == bits })
		if i < 0 {
			lv = append(lv, level[V]{bits: uint8(bits), m: map[Key]V{}})
			i = len(lv) - 1
		}
		if _, dup := lv[i].m[k]; !dup {
			lv[i].m[k] = e.Value
		}
		t.levels[l] = lv
	}
	for l := range t.levels {
		slices.SortFunc(t.levels[l], func(a, b level[V]) int { return int(b.bits) - int(a.bits) })
	}
	return t
}

// Lookup returns the value of the longest prefix containing k.
func (t *Table[V]) Lookup(k Key) (V, bool) {
	var zero V
	if t == nil || k.Len > 16 {
		return zero, false
	}
	for _, lv := range t.levels[k.Len] {
		if v, ok := lv.m[mask(k, int(lv.bits))]; ok {
			return v, true
		}
	}
	return zero, false
}

// Len returns the number of distinct prefixes.
func (t *Table[V]) Len() int {
	if t == nil {
		return 0
	}
	n := 0
	for _, lvs := range t.levels {
		for _, lv := range lvs {
			n += len(lv.m)
		}
	}
	return n
}

// mask keeps the first bits bits of k's address.
func mask(k Key, bits int) Key {
	full := bits / 8
	for i := full; i < 16; i++ {
		if i == full && bits%8 != 0 {
			k.Data[i] &= ^byte(0xff >> (bits % 8))
		} else {
			k.Data[i] = 0
		}
	}
	return k
}
