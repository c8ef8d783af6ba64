package vgcm

import "testing"

// BenchmarkStages times the two passes alone: counter mode and GHASH
// over 1, 87 (a 1400-byte packet) and 512 blocks.
func BenchmarkStages(b *testing.B) {
	if !Supported() {
		return
	}
	g, _ := New(make([]byte, 16))
	buf := make([]byte, 8192)
	var ctr, acc [16]byte
	for _, n := range []int{1, 87, 512} {
		b.Run("ctr/"+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n * 16))
			for b.Loop() {
				ctrBlocks(&g.rk, g.nr, &ctr, &buf[0], &buf[0], n)
			}
		})
		b.Run("ghash/"+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n * 16))
			for b.Loop() {
				ghashBlocks(&g.htab, &acc, &buf[0], n)
			}
		})
	}
}
