//go:build !purego

package tunio

import "golang.org/x/sys/cpu"

// useBlocks selects the AVX2 block sums for long inputs.
var useBlocks = cpu.X86.HasAVX2

// sumBlocks returns the sum of the little-endian 32-bit words of the
// first n&^31 bytes at b, exact (n at most 2^36).
//
//go:noescape
func sumBlocks(b *byte, n int) uint64

// copySumBlocks copies the first n&^31 bytes from src to dst (which must
// not overlap) and returns their sum as sumBlocks does.
//
//go:noescape
func copySumBlocks(dst, src *byte, n int) uint64
