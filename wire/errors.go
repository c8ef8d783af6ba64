package wire

import "errors"

// Sentinel errors. Decoders and parsers wrap them with the failing operation;
// test with errors.Is.
var (
	// ErrTruncated: the input ends inside a field or before the end marker.
	ErrTruncated = errors.New("wire: truncated message")
	// ErrNoNodeID: a node-info message without its node-id part.
	ErrNoNodeID = errors.New("wire: node info without node id")
	// ErrAddressTooLong: an address length byte above 16.
	ErrAddressTooLong = errors.New("wire: address longer than 16 bytes")
	// ErrTooManyPeers: more peers than MaxDecodePeers in one node info.
	ErrTooManyPeers = errors.New("wire: too many peers in node info")
	// ErrTooManyClaims: more claims than MaxDecodeClaims in one node info.
	ErrTooManyClaims = errors.New("wire: too many claims in node info")
	// ErrBadAddress: text that is no IPv4, IPv6 or MAC address.
	ErrBadAddress = errors.New("wire: invalid address")
	// ErrBadPrefix: a range's prefix length that is no number or longer than
	// its address.
	ErrBadPrefix = errors.New("wire: invalid prefix length")
)
