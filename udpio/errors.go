package udpio

import "errors"

// Sentinel errors of this package; wrapped with the failing operation.
var (
	// ErrBadListen is returned for a listen address that is none of the
	// accepted forms ("3210", ":3210", "*:3210", "1.2.3.4", "1.2.3.4:3210",
	// "[::]:3210", "::1").
	ErrBadListen = errors.New("invalid listen address")
	// ErrAddressFamily is returned when sending to an IPv6 address from a
	// socket that fell back to IPv4 only, or binding an IPv6 address there.
	ErrAddressFamily = errors.New("address family not supported by this socket")
	// ErrBadAddress is returned when sending to the zero address or port.
	ErrBadAddress = errors.New("invalid destination address")
	// ErrBadMessage is returned when a message's N exceeds len(Buf).
	ErrBadMessage = errors.New("message length exceeds its buffer")
	// ErrBadShards is returned by ListenShards for a shard count below 1.
	ErrBadShards = errors.New("shard count must be at least 1")
)
