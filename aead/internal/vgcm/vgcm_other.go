//go:build !amd64 || purego

package vgcm

// Supported reports whether this processor runs the package's assembly:
// never on this architecture or in a purego build.
func Supported() bool { return false }

// New fails: see Supported.
func New(key []byte) (*GCM, error) { return nil, ErrUnsupported }

func ctrBlocks(rk *[15][32]byte, nr int, ctr *[16]byte, dst, src *byte, n int) {
	panic("vgcm: unsupported")
}

func ghashBlocks(htab *[32][16]byte, acc *[16]byte, src *byte, n int) {
	panic("vgcm: unsupported")
}

func encrypt2(rk *[15][32]byte, nr int, blocks *[32]byte) { panic("vgcm: unsupported") }
