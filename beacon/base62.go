package beacon

// VpnCloud's base62 (util.rs): the bytes as one big-endian number written
// with 0-9, A-Z, a-z, most significant digit first. Leading zero bytes
// vanish (to_base62 of [0] is ""), as in VpnCloud.

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func toBase62(data []byte) string {
	digits := make([]byte, 0, 2*len(data)) // little-endian base62 digits
	addMul16 := func(m byte) {
		d := int(m)
		for i := range digits {
			d += int(digits[i]) * 16
			digits[i] = byte(d % 62)
			d /= 62
		}
		if d > 0 {
			digits = append(digits, byte(d))
		}
	}
	for _, b := range data {
		addMul16(b / 16)
		addMul16(b % 16)
	}
	out := make([]byte, len(digits))
	for i, d := range digits {
		out[len(digits)-1-i] = alphabet[d]
	}
	return string(out)
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

func fromBase62(s string) ([]byte, error) {
	buf := make([]byte, 0, len(s)/2+len(s)/4) // little-endian bytes
	for i := 0; i < len(s); i++ {
		v := base62Value(s[i])
		if v < 0 {
			return nil, ErrInvalidChar
		}
		for j := range buf {
			v += int(buf[j]) * 62
			buf[j] = byte(v)
			v >>= 8
		}
		if v > 0 {
			buf = append(buf, byte(v))
		}
	}
	for i, j := 0, len(buf)-1; i < j; i, j = i+1, j-1 {
		buf[i], buf[j] = buf[j], buf[i]
	}
	return buf, nil
}
