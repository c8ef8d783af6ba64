package tunio

import (
	"encoding/binary"
	"math/bits"
)

// littleEndian is true on little-endian machines; sum16 sums native-order
// words and swaps the folded result (RFC 1071: the ones'-complement sum is
// byte-order independent up to a final swap).
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// blockMin is the length from which sum16 and copySum16 use the block
// sums (where useBlocks): below it the call costs more than it saves, and
// the headers summed by the offload code are all shorter.
const blockMin = 128

// sum16 returns the folded 16-bit ones'-complement sum of b taken as
// big-endian 16-bit words (an odd last byte is padded with zero). It does
// not allocate. Long inputs are summed 32 bytes at a time with AVX2 where
// the processor has it (sumBlocks; BenchmarkSum16), the rest eight bytes
// at a time.
func sum16(b []byte) uint32 {
	if useBlocks && len(b) >= blockMin {
		n := len(b) &^ 31
		return sumScalar(sumBlocks(&b[0], n), b[n:])
	}
	return sumScalar(0, b)
}

// copySum16 copies src to the start of dst, which must be at least as long
// and must not overlap it, and returns sum16(src): one pass over the bytes
// where the processor has AVX2, instead of a copy and then a sum.
func copySum16(dst, src []byte) uint32 {
	if useBlocks && len(src) >= blockMin {
		_ = dst[len(src)-1] // bounds for the assembly
		n := len(src) &^ 31
		ac := copySumBlocks(&dst[0], &src[0], n)
		copy(dst[n:], src[n:])
		return sumScalar(ac, src[n:])
	}
	copy(dst, src)
	return sumScalar(0, src)
}

// sumScalar is sum16 of b eight bytes at a time, added to ac: a sum (with
// end-around carry) of little-endian words of bytes before b, taken at an
// even offset.
func sumScalar(ac uint64, b []byte) uint32 {
	var carry uint64
	// Two independent carry chains over 64 bytes per round, so the CPU
	// runs them in parallel (one chain is bound by the latency of its
	// add-with-carry sequence).
	var ac2, carry2 uint64
	for len(b) >= 64 {
		ac, carry = bits.Add64(ac, binary.NativeEndian.Uint64(b[0:8]), 0)
		ac2, carry2 = bits.Add64(ac2, binary.NativeEndian.Uint64(b[32:40]), 0)
		ac, carry = bits.Add64(ac, binary.NativeEndian.Uint64(b[8:16]), carry)
		ac2, carry2 = bits.Add64(ac2, binary.NativeEndian.Uint64(b[40:48]), carry2)
		ac, carry = bits.Add64(ac, binary.NativeEndian.Uint64(b[16:24]), carry)
		ac2, carry2 = bits.Add64(ac2, binary.NativeEndian.Uint64(b[48:56]), carry2)
		ac, carry = bits.Add64(ac, binary.NativeEndian.Uint64(b[24:32]), carry)
		ac2, carry2 = bits.Add64(ac2, binary.NativeEndian.Uint64(b[56:64]), carry2)
		ac += carry
		ac2 += carry2
		b = b[64:]
	}
	ac, carry = bits.Add64(ac, ac2, 0)
	ac += carry
	for len(b) >= 32 {
		ac, carry = bits.Add64(ac, binary.NativeEndian.Uint64(b[0:8]), 0)
		ac, carry = bits.Add64(ac, binary.NativeEndian.Uint64(b[8:16]), carry)
		ac, carry = bits.Add64(ac, binary.NativeEndian.Uint64(b[16:24]), carry)
		ac, carry = bits.Add64(ac, binary.NativeEndian.Uint64(b[24:32]), carry)
		ac += carry
		b = b[32:]
	}
	for len(b) >= 8 {
		ac, carry = bits.Add64(ac, binary.NativeEndian.Uint64(b[:8]), 0)
		ac += carry
		b = b[8:]
	}
	if len(b) >= 4 {
		ac, carry = bits.Add64(ac, uint64(binary.NativeEndian.Uint32(b[:4])), 0)
		ac += carry
		b = b[4:]
	}
	if len(b) >= 2 {
		ac, carry = bits.Add64(ac, uint64(binary.NativeEndian.Uint16(b[:2])), 0)
		ac += carry
		b = b[2:]
	}
	if len(b) == 1 {
		// The odd byte is the high byte of a big-endian word: in native
		// order that is the low byte on little-endian machines.
		v := uint64(b[0])
		if !littleEndian {
			v <<= 8
		}
		ac, carry = bits.Add64(ac, v, 0)
		ac += carry
	}
	ac = ac>>32 + ac&0xffffffff
	ac = ac>>32 + ac&0xffffffff
	s := fold(uint32(ac))
	if littleEndian {
		s = bits.ReverseBytes16(s)
	}
	return uint32(s)
}

// fold reduces a sum of 16-bit ones'-complement sums to 16 bits.
func fold(s uint32) uint16 {
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// pseudoSum is the folded sum of the TCP/UDP pseudo header: the source and
// destination addresses (addrs, the two contiguous in the IP header),
// protocol and transport length.
func pseudoSum(addrs []byte, proto uint8, length int) uint32 {
	return uint32(fold(sum16(addrs) + uint32(proto) + uint32(length>>16) + uint32(length&0xffff)))
}

// finishChecksum turns a folded sum into the value for a checksum field,
// writing 0xffff for zero as the kernel does (CSUM_MANGLED_0): for UDP zero
// would mean "no checksum", for TCP both spellings are equivalent.
func finishChecksum(s uint32) uint16 {
	c := ^fold(s)
	if c == 0 {
		return 0xffff
	}
	return c
}
