package interop

import "errors"

// Sentinel errors, wrapped with the failing operation; test with errors.Is.
var (
	// ErrKeylog: a key-log line that is not "EVENT ID USE_FOR_SENDING KEY_HEX".
	ErrKeylog = errors.New("interop: bad key-log line")
	// ErrFrame: an outer packet that is neither a handshake nor a
	// well-formed encrypted packet.
	ErrFrame = errors.New("interop: bad packet frame")
	// ErrNotOpened: no algorithm and nonce half opens the packet with the key.
	ErrNotOpened = errors.New("interop: packet does not open with the key")
)
