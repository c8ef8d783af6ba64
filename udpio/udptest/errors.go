package udptest

import "errors"

// Sentinel errors of this package.
var (
	// ErrAddrInUse is returned by Listen for an address already bound.
	ErrAddrInUse = errors.New("address already in use")
	// ErrBadAddress is returned by Listen for the zero address.
	ErrBadAddress = errors.New("invalid address")
)
