//go:build !purego

package vgcm

import "golang.org/x/sys/cpu"

// supported: the package uses the 256-bit (VEX) forms of VAES and
// VPCLMULQDQ, which need AVX2's register state and the two CPUID bits,
// not AVX-512. x/sys/cpu reports the bits only where AVX-512 is usable
// (HasAVX512VAES), which leaves out processors that have them without it
// (AMD Zen 3, Intel Alder Lake and later client parts) and virtual
// machines that hide AVX-512: the bits are read here instead.
var supported = cpu.X86.HasAVX2 && cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ && hasVAES256()

// CPUID leaf 7, subleaf 0, ECX: VAES and VPCLMULQDQ.
const (
	cpuidVAES       = 1 << 9
	cpuidVPCLMULQDQ = 1 << 10
)

// hasVAES256 reports the VAES and VPCLMULQDQ CPUID bits. Callers check
// AVX2 first (x/sys/cpu: the processor has it and the OS saves the YMM
// registers), which also means leaf 7 exists.
func hasVAES256() bool {
	_, _, ecx, _ := cpuid(7, 0)
	return ecx&cpuidVAES != 0 && ecx&cpuidVPCLMULQDQ != 0
}

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

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

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
