package beacon

import "github.com/peercloud/peercloud/handshake"

// VpnCloud's base62 (util.rs), shared with the key encoding in package
// handshake: the bytes as one big-endian number written with 0-9, A-Z,
// a-z, most significant digit first. Leading zero bytes vanish (to_base62
// of [0] is ""), as in VpnCloud.

func toBase62(data []byte) string { return handshake.ToBase62(data) }

func fromBase62(s string) ([]byte, error) {
	b, err := handshake.FromBase62(s)
	if err != nil {
		return nil, ErrInvalidChar
	}
	return b, nil
}

// base62Value is the digit value of c, or -1.
func base62Value(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}
