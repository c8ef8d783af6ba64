package tunio

import (
	"math/rand/v2"
	"testing"
)

func TestSum16MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 3000)
	for i := range buf {
		buf[i] = byte(r.UintN(256))
	}
	for n := 0; n < 300; n++ {
		for _, start := range []int{0, 1, 3, 7} { // unaligned starts too
			b := buf[start : start+n]
			if got, want := sum16(b), refSum(b); got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
				t.Fatalf("sum16(len %d, start %d) = %#x, want %#x", n, start, got, want)
			}
		}
	}
	for _, n := range []int{1400, 1401, 2999} {
		if got, want := sum16(buf[:n]), refSum(buf[:n]); got != want {
			t.Fatalf("sum16(len %d) = %#x, want %#x", n, got, want)
		}
	}
	ff := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if got := sum16(ff); got != refSum(ff) {
		t.Fatalf("all-ones sum %#x, want %#x", got, refSum(ff))
	}
	// Carries in every word of both of the 64-byte loop's chains.
	big := make([]byte, 1500)
	for i := range big {
		big[i] = 0xff
	}
	big[100], big[1499] = 0xfe, 0x01
	for _, n := range []int{64, 127, 128, 129, 1500} {
		if got, want := sum16(big[:n]), refSum(big[:n]); got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("sum16(%d mostly-ones bytes) = %#x, want %#x", n, got, want)
		}
	}
}

// sameSum reports whether two folded sums are equal as ones'-complement
// numbers (0 and 0xffff are both zero).
func sameSum(a, b uint32) bool {
	return a == b || a == 0xffff && b == 0 || a == 0 && b == 0xffff
}

// TestSum16PathsAgree checks the block sums (where the processor has
// them) and the scalar sum against the reference and each other, over
// lengths and starts either side of blockMin and of the 32- and 128-byte
// block steps, random and all-ones data up to 64 KiB (the largest lane
// sums the blocks can hold), and copySum16's copy.
func TestSum16PathsAgree(t *testing.T) {
	t.Logf("block sums in use: %v", useBlocks)
	r := rand.New(rand.NewPCG(3, 4))
	rnd := make([]byte, 65536+8)
	for i := range rnd {
		rnd[i] = byte(r.UintN(256))
	}
	ones := make([]byte, 65536+8)
	for i := range ones {
		ones[i] = 0xff
	}
	var lengths []int
	for n := 0; n <= 700; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 1387, 1400, 1427, 1500, 9000, 32768, 65535, 65536)
	dst := make([]byte, 65536+16)
	for _, data := range [][]byte{rnd, ones} {
		for _, n := range lengths {
			for _, start := range []int{0, 1, 2, 5} {
				b := data[start : start+n]
				want := refSum(b)
				if got := sum16(b); !sameSum(got, want) {
					t.Fatalf("sum16(len %d, start %d) = %#x, want %#x", n, start, got, want)
				}
				if got := sumScalar(0, b); !sameSum(got, want) {
					t.Fatalf("sumScalar(len %d, start %d) = %#x, want %#x", n, start, got, want)
				}
				for i := range dst {
					dst[i] = 0xa5
				}
				d := dst[start+3:] // a different alignment from the source
				if got := copySum16(d, b); !sameSum(got, want) {
					t.Fatalf("copySum16(len %d, start %d) = %#x, want %#x", n, start, got, want)
				}
				if string(d[:n]) != string(b) {
					t.Fatalf("copySum16(len %d, start %d) copied wrong bytes", n, start)
				}
				if d[n] != 0xa5 {
					t.Fatalf("copySum16(len %d, start %d) wrote past the copy", n, start)
				}
			}
		}
	}
	if useBlocks {
		// The block sums on their own: exact sums of little-endian dwords.
		for _, n := range []int{0, 31, 32, 100, 128, 1400, 65536} {
			b := rnd[:n]
			var want uint64
			for i := 0; i < n&^31; i += 4 {
				want += uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24
			}
			if n == 0 {
				b = rnd[:1] // a valid pointer; n = 0 sums nothing
			}
			if got := sumBlocks(&b[0], n); got != want {
				t.Fatalf("sumBlocks(%d) = %#x, want %#x", n, got, want)
			}
		}
	}
}

func TestCopySum16Allocs(t *testing.T) {
	src, dst := make([]byte, 1400), make([]byte, 1500)
	if a := testing.AllocsPerRun(100, func() { copySum16(dst, src); sum16(src) }); a != 0 {
		t.Fatalf("copySum16 and sum16 allocate %v times per call", a)
	}
}

func TestFinishChecksumNeverZero(t *testing.T) {
	if got := finishChecksum(0xffff); got != 0xffff {
		t.Fatalf("finishChecksum(0xffff) = %#x, want 0xffff (CSUM_MANGLED_0)", got)
	}
	if got := finishChecksum(0x1234); got != ^uint16(0x1234) {
		t.Fatalf("finishChecksum(0x1234) = %#x", got)
	}
}

// BenchmarkSum16 sums a segment's payload: Blocks is the path sum16 takes
// (AVX2 block sums where the processor has them), Scalar the eight-byte
// loop alone.
func BenchmarkSum16(b *testing.B) {
	buf := make([]byte, 1400)
	b.Run("Blocks", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			sum16(buf)
		}
	})
	b.Run("Scalar", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			sumScalar(0, buf)
		}
	})
}

// BenchmarkCopySum16 copies and sums a segment's payload, as the split
// does: in one pass (copySum16) and as a copy and then a sum.
func BenchmarkCopySum16(b *testing.B) {
	src, dst := make([]byte, 1400), make([]byte, 1500)
	b.Run("OnePass", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			copySum16(dst, src)
		}
	})
	b.Run("CopyThenSum", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			copy(dst, src)
			sumScalar(0, dst[:len(src)])
		}
	})
}
