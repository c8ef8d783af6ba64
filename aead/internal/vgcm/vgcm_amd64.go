//go:build !purego

package vgcm

import "golang.org/x/sys/cpu"

// x/sys/cpu reports VAES and VPCLMULQDQ only where AVX-512 is usable,
// although only their 256-bit (VEX) forms are used here.
var supported = cpu.X86.HasAVX2 && cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ &&
	cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ

// Supported reports whether this processor runs the package's assembly.
func Supported() bool { return supported }

// New returns AES-GCM for a 16-byte (AES-128) or 32-byte (AES-256) key.
func New(key []byte) (*GCM, error) {
	if !supported {
		return nil, ErrUnsupported
	}
	g := &GCM{}
	switch len(key) {
	case 16:
		g.nr = 10
		expandKey128(&key[0], &g.rk)
	case 32:
		g.nr = 14
		expandKey256(&key[0], &g.rk)
	default:
		return nil, ErrKeySize
	}
	initH(&g.rk, g.nr, &g.htab)
	return g, nil
}

//go:noescape
func expandKey128(key *byte, rk *[15][32]byte)

//go:noescape
func expandKey256(key *byte, rk *[15][32]byte)

//go:noescape
func initH(rk *[15][32]byte, nr int, htab *[32][16]byte)

//go:noescape
func ctrBlocks(rk *[15][32]byte, nr int, ctr *[16]byte, dst, src *byte, n int)

//go:noescape
func ghashBlocks(htab *[32][16]byte, acc *[16]byte, src *byte, n int)

//go:noescape
func encrypt2(rk *[15][32]byte, nr int, blocks *[32]byte)
