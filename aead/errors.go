package aead

import "errors"

// Sentinel errors. Functions wrap them with the failing operation; test with
// errors.Is.
var (
	// ErrShort: a packet is too short to hold a header and tag (or, in plain
	// mode, is empty).
	ErrShort = errors.New("aead: packet too short")
	// ErrAuth: the packet did not authenticate (wrong key, wrong nonce half,
	// tampered bytes).
	ErrAuth = errors.New("aead: authentication failed")
	// ErrNoKey: the packet names a key slot that holds no key.
	ErrNoKey = errors.New("aead: no key in slot")
	// ErrReplay: the packet authenticated but its counter was already seen or
	// is older than the replay window.
	ErrReplay = errors.New("aead: replayed or too old packet")
	// ErrAlgorithm: an unknown algorithm id or name.
	ErrAlgorithm = errors.New("aead: unknown algorithm")
	// ErrKeyLen: key material shorter than the algorithm's key length.
	ErrKeyLen = errors.New("aead: key too short")
	// ErrBuffer: a buffer passed to Seal is too small for header and tag.
	ErrBuffer = errors.New("aead: buffer too small")
	// ErrNonceExhausted: the 56-bit send counter of the current key is used
	// up; a new key must be installed.
	ErrNonceExhausted = errors.New("aead: send counter exhausted")
	// ErrReservation: SealAt was called with an index outside its
	// reservation or a zero Reservation.
	ErrReservation = errors.New("aead: counter outside reservation")
)
