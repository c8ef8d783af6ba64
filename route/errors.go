package route

import "errors"

var (
	// ErrShort: the packet or frame is shorter than its headers.
	ErrShort = errors.New("route: packet too short")
	// ErrVersion: the IP version nibble is neither 4 nor 6.
	ErrVersion = errors.New("route: not an IPv4 or IPv6 packet")
	// ErrKeyLen: a key is longer than 16 bytes.
	ErrKeyLen = errors.New("route: key longer than 16 bytes")
)
