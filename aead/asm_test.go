//go:build !purego

package aead

// pureGoChaChaAllocs: see purego_test.go.
const pureGoChaChaAllocs = 0
