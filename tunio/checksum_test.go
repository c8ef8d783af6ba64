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

func TestFinishChecksumNeverZero(t *testing.T) {
	if got := finishChecksum(0xffff); got != 0xffff {
		t.Fatalf("finishChecksum(0xffff) = %#x, want 0xffff (CSUM_MANGLED_0)", got)
	}
	if got := finishChecksum(0x1234); got != ^uint16(0x1234) {
		t.Fatalf("finishChecksum(0x1234) = %#x", got)
	}
}

func BenchmarkSum16(b *testing.B) {
	buf := make([]byte, 1400)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		sum16(buf)
	}
}
