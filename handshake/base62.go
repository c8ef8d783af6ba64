package handshake

import "fmt"

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ToBase62 encodes data exactly as VpnCloud's util::to_base62: the bytes are
// read as one big-endian number written with the digits 0-9A-Za-z. Leading
// zero bytes are not represented (a single zero byte encodes as "").
func ToBase62(data []byte) string {
	buf := make([]byte, 0, len(data)*2)
	add := func(m byte) {
		d := int(m)
		for i := range buf {
			d += int(buf[i]) * 16
			buf[i] = byte(d % 62)
			d /= 62
		}
		if d > 0 {
			buf = append(buf, byte(d))
		}
	}
	for _, b := range data {
		add(b / 16)
		add(b % 16)
	}
	out := make([]byte, len(buf))
	for i, v := range buf {
		out[len(buf)-1-i] = base62Alphabet[v]
	}
	return string(out)
}

// FromBase62 decodes s exactly as VpnCloud's util::from_base62: the result
// has no leading zero bytes. Any character outside the alphabet is an error.
func FromBase62(s string) ([]byte, error) {
	buf := make([]byte, 0, len(s)/2+len(s)/4)
	for _, c := range s {
		var val int
		switch {
		case c >= '0' && c <= '9':
			val = int(c - '0')
		case c >= 'A' && c <= 'Z':
			val = int(c-'A') + 10
		case c >= 'a' && c <= 'z':
			val = int(c-'a') + 36
		default:
			return nil, fmt.Errorf("handshake.FromBase62 %q: %w", c, ErrBase62)
		}
		for i := range buf {
			val += int(buf[i]) * 62
			buf[i] = byte(val % 256)
			val /= 256
		}
		if val > 0 {
			buf = append(buf, byte(val))
		}
	}
	for i, j := 0, len(buf)-1; i < j; i, j = i+1, j-1 {
		buf[i], buf[j] = buf[j], buf[i]
	}
	return buf, nil
}
