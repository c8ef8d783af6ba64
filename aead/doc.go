// Package aead owns peercloud's data-plane cryptography: the cipher suites
// VpnCloud 2.3.0 negotiates (plain, AES-128-GCM, AES-256-GCM,
// ChaCha20-Poly1305), VpnCloud's framing of encrypted packets, the nonce
// halves that keep both directions of a shared key apart, the four key slots
// used by key rotation, a sliding-window replay filter and the speed
// self-test whose figures the handshake advertises.
//
// # Wire format (VpnCloud 2.3.0)
//
// An encrypted packet is
//
//	key id (1 byte) | nonce[5:12] (7 bytes) | ciphertext of (type byte + body) | tag (16 bytes)
//
// with no associated data. The receiver uses key id % 4 as the key slot. The
// 12-byte nonce is: byte 0 the sender's half (0x80 if its nonce-half flag is
// true, else 0x00), bytes 1..4 zero, bytes 5..11 from the packet. The
// receiver rebuilds byte 0 as the half opposite to its own, so a packet
// reflected back to its sender never opens. Bytes 5..11 form a 56-bit
// big-endian counter (type [Counter]); a sender starts it at a random 48-bit
// value for every key it installs and increments it before every packet.
// In plain mode a packet is just the type byte and the body.
//
// # Replay protection
//
// VpnCloud accepts duplicates for one to two seconds. A [Session] instead
// keeps, per key slot, a WireGuard-style sliding bitmap over the counter
// ([ReplayWindow] packets wide): duplicates and counters older than the
// window are rejected, reordering inside it is accepted. The window is
// updated only after a packet authenticated. This is stricter than VpnCloud
// yet compatible with it, since a VpnCloud sender never repeats a counter.
//
// # Concurrency
//
// A [Session] is safe for concurrent use: any number of goroutines may Seal,
// Open, Reserve/SealAt and Authenticate/Accept while the control goroutine
// calls Install. Each slot's key state is immutable behind an atomic pointer
// (Install swaps in a fresh one); the send counter is atomic and the replay
// window has its own small lock.
package aead
