// Package handshake owns peer identity and session establishment for the
// VpnCloud 2.3.0 protocol: Ed25519 identities (base62 encoding, password
// derivation), the signed three-stage init handshake (ping, pong, peng),
// algorithm negotiation, and key rotation (type-0x10 messages).
//
// Everything here is a pure state machine: no sockets, no goroutines, no
// clock. Time advances only through explicit Tick calls (one per second, as
// VpnCloud's every_second) and randomness comes from an injected io.Reader,
// so the whole protocol can be table-tested and fuzzed deterministically.
//
// Between two peercloud nodes an extra handshake field (see extension.go)
// switches to an HKDF-based per-direction key schedule; with any other peer
// the behaviour is byte-for-byte VpnCloud's.
package handshake
