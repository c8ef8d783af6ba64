package ring

import "errors"

var (
	// ErrClosed is returned by Push and TryPush once the ring is closed.
	ErrClosed = errors.New("ring: closed")
	// ErrFull is returned by TryPush when the ring has no free slot.
	ErrFull = errors.New("ring: full")
)
