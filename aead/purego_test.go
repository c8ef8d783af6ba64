//go:build purego

package aead

// pureGoChaChaAllocs is what golang.org/x/crypto's generic (purego)
// ChaCha20-Poly1305 allocates per Seal or Open (its Poly1305 state
// escapes: 32 B); its amd64 assembly allocates nothing.
const pureGoChaChaAllocs = 1
