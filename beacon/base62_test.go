package beacon

import (
	"bytes"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// swapCase maps math/big's base-62 digits (0-9, a-z, A-Z) to VpnCloud's
// (0-9, A-Z, a-z).
func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

// Base62 against a naive reference: the bytes as one big number.
func TestBase62AgainstBigInt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		data := make([]byte, r.IntN(80))
		for j := range data {
			data[j] = byte(r.UintN(256))
		}
		if i%7 == 0 && len(data) > 1 {
			data[0] = 0 // leading zero bytes vanish, as in VpnCloud
		}
		want := ""
		if n := new(big.Int).SetBytes(data); n.Sign() != 0 {
			want = swapCase(n.Text(62))
		}
		got := toBase62(data)
		if got != want {
			t.Fatalf("toBase62(%x) = %q, want %q", data, got, want)
		}
		back, err := fromBase62(got)
		if err != nil || !bytes.Equal(back, bytes.TrimLeft(data, "\x00")) {
			t.Fatalf("fromBase62(%q) = %x, %v, want %x", got, back, err, data)
		}
	}
}
