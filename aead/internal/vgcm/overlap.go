package vgcm

import "unsafe"

// inexactOverlap reports whether x and y share memory at any
// non-corresponding index (crypto/internal/alias's rule): in-place
// operation is fine, a shifted overlap is not.
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	// unsafe: only the addresses are compared; nothing is dereferenced.
	xs, ys := uintptr(unsafe.Pointer(&x[0])), uintptr(unsafe.Pointer(&y[0]))
	return xs < ys+uintptr(len(y)) && ys < xs+uintptr(len(x))
}
