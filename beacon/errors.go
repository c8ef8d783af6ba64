package beacon

import "errors"

// Sentinel errors. Decoding never panics: malformed input yields one of
// these (wrapped with the operation).
var (
	// ErrInvalidChar: a character outside 0-9, A-Z, a-z in base62 data.
	ErrInvalidChar = errors.New("beacon: invalid base62 character")
	// ErrTooShort: the payload is shorter than a timestamp, a count and
	// the seed.
	ErrTooShort = errors.New("beacon: payload too short")
	// ErrTooLong: the payload is longer than any beacon peercloud or
	// VpnCloud writes (a bound against quadratic base62 decoding).
	ErrTooLong = errors.New("beacon: payload too long")
	// ErrChecksum: the seed check failed (a different beacon password or a
	// damaged beacon).
	ErrChecksum = errors.New("beacon: check failed (wrong beacon password or damaged beacon)")
	// ErrExpired: the beacon's timestamp is further from now than the TTL.
	ErrExpired = errors.New("beacon: expired")
	// ErrBadLength: the address count does not fit the payload length.
	ErrBadLength = errors.New("beacon: address count does not match the length")
	// ErrNotFound: the text contains no begin/end marker pair.
	ErrNotFound = errors.New("beacon: no beacon in the text")
	// ErrCommand: a beacon command failed (non-zero exit, killed, timeout).
	ErrCommand = errors.New("beacon: command failed")
	// ErrConfig: a ServiceConfig lacks a callback its targets need.
	ErrConfig = errors.New("beacon: invalid service configuration")
)
