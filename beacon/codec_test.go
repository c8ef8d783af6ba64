package beacon

import (
	"crypto/sha512"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// The vectors below are VpnCloud 2.3.0's beacon.rs tests: same key, same
// clock (hour 2000), same inputs, same outputs.

var at2000 = time.Unix(2000*3600, 0)

func hours(h int64) time.Time { return time.Unix(h*3600, 0) }

func addrs(s ...string) []netip.AddrPort {
	out := make([]netip.AddrPort, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddrPort(a)
	}
	return out
}

var twoPeers = addrs("1.2.3.4:5678", "6.6.6.6:53")

func TestBase62VpnCloudVectors(t *testing.T) {
	for _, tc := range []struct {
		in  []byte
		out string
	}{
		{[]byte{0}, ""}, {[]byte{61}, "z"}, {[]byte{62}, "10"}, {[]byte{1, 0}, "48"}, {[]byte("Test"), "1Xp7Ke"},
	} {
		if got := toBase62(tc.in); got != tc.out {
			t.Errorf("toBase62(%v) = %q, want %q", tc.in, got, tc.out)
		}
	}
	for _, tc := range []struct {
		in  string
		out []byte
	}{
		{"", []byte{}}, {"z", []byte{61}}, {"10", []byte{62}}, {"48", []byte{1, 0}}, {"1Xp7Ke", []byte("Test")},
	} {
		got, err := fromBase62(tc.in)
		if err != nil || !slices.Equal(got, tc.out) {
			t.Errorf("fromBase62(%q) = %v, %v, want %v", tc.in, got, err, tc.out)
		}
	}
	if _, err := fromBase62("ab-c"); !errors.Is(err, ErrInvalidChar) {
		t.Errorf("fromBase62 with '-' = %v, want ErrInvalidChar", err)
	}
}

func TestEncodeVpnCloudVectors(t *testing.T) {
	c := New("mysecretkey")
	if got := c.Encode(twoPeers, at2000); got != "WsHI31EWDMBYxvITiILIrm2k9gEik22E" {
		t.Errorf("two peers: %q", got)
	}
	three := append(slices.Clone(twoPeers), netip.MustParseAddrPort("[::1]:5678"))
	if got := c.Encode(three, at2000); got != "WsHI3GXKaXCveo6uejmZizZ72kR6Y0L9T7h49TXONp1ugfKvvvEik22E" {
		t.Errorf("with ::1: %q", got)
	}
	if got := c.Encode(addrs("1.2.3.4:5678", "6.6.6.6:54"), at2000); got != "WsHI32gm9eMSHP3Lm1GXcdP7rD3ik22E" {
		t.Errorf("other port: %q", got)
	}
	if c.Begin() != "WsHI3" || c.End() != "ik22E" {
		t.Errorf("markers %q %q", c.Begin(), c.End())
	}
	// The order of v4 and v6 in the input does not matter: v4 first.
	mixed := addrs("[::1]:5678", "1.2.3.4:5678", "6.6.6.6:53")
	if got := c.Encode(mixed, at2000); got != "WsHI3GXKaXCveo6uejmZizZ72kR6Y0L9T7h49TXONp1ugfKvvvEik22E" {
		t.Errorf("mixed order: %q", got)
	}
}

func TestDecodeVpnCloudVectors(t *testing.T) {
	c := New("mysecretkey")
	three := append(slices.Clone(twoPeers), netip.MustParseAddrPort("[::1]:5678"))
	for _, tc := range []struct {
		name, in string
		want     []netip.AddrPort
	}{
		{"decode", "WsHI31EWDMBYxvITiILIrm2k9gEik22E", twoPeers},
		{"decode v6", "WsHI3GXKaXCveo6uejmZizZ72kR6Y0L9T7h49TXONp1ugfKvvvEik22E", three},
		{"split", "WsHI3-1E.WD:MB Yx\tvI\nTi(IL)Ir[m2]k9ügEäik22E", twoPeers},
		{"split 2", "W -, \nsH--I31EWDMBYxvITiILIrm2k9gEi(k)2ÖÄÜ\n2E", twoPeers},
		{"offset", "Hello World: WsHI31EWDMBYxvITiILIrm2k9gEik22E! End of the World", twoPeers},
		{"multiple", "WsHI31HVpqxFNMNSPrvik22E WsHI34yOBcZIulKdtn2ik22E", twoPeers},
		{"end before begin", "ik22EWsHI31EWDMBYxvITiILIrm2k9gEik22EWsHI3", twoPeers},
		{"nested markers", "WsHI3WsHI31EWDMBYxvITiILIrm2k9gEik22Eik22E", twoPeers},
	} {
		got, err := c.Decode(tc.in, at2000, 0)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: Decode = %v, %v, want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestDecodeInvalidVpnCloudVectors(t *testing.T) {
	c := New("mysecretkey")
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrNotFound},
		{"WsHI3ik22E", ErrTooShort},
		{"WsHI3--", ErrNotFound},
		{"--ik22E", ErrNotFound},
		{"WsHI32EWDMBYxvITiILIrm2k9gEik22E", ErrChecksum},
	} {
		got, err := c.Decode(tc.in, at2000, 0)
		if len(got) != 0 || !errors.Is(err, tc.want) {
			t.Errorf("Decode(%q) = %v, %v, want none and %v", tc.in, got, err, tc.want)
		}
	}
}

func TestDecodeTTLVpnCloudVectors(t *testing.T) {
	c := New("mysecretkey")
	const b = "WsHI31EWDMBYxvITiILIrm2k9gEik22E"
	for _, tc := range []struct {
		hour int64
		ttl  time.Duration
		ok   bool
	}{
		{2000, 0, true}, {2100, 0, true}, {2005, 0, true}, {1995, 0, true},
		{2000, 24 * time.Hour, true}, {1995, 24 * time.Hour, true}, {2005, 24 * time.Hour, true},
		{2100, 24 * time.Hour, false}, {1900, 24 * time.Hour, false},
		// Edges: exactly ttl hours away is accepted, one more is not.
		{2024, 24 * time.Hour, true}, {2025, 24 * time.Hour, false}, {1976, 24 * time.Hour, true}, {1975, 24 * time.Hour, false},
		// The 16-bit hour wraps: 65536 hours later is the same stamp.
		{2000 + 65536, 24 * time.Hour, true},
	} {
		got, err := c.Decode(b, hours(tc.hour), tc.ttl)
		if tc.ok && (err != nil || len(got) != 2) {
			t.Errorf("hour %d ttl %v: %v, %v, want 2 addresses", tc.hour, tc.ttl, got, err)
		}
		if !tc.ok && (len(got) != 0 || !errors.Is(err, ErrExpired)) {
			t.Errorf("hour %d ttl %v: %v, %v, want ErrExpired", tc.hour, tc.ttl, got, err)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	c := New("mysecretkey")
	for _, peers := range [][]netip.AddrPort{
		nil,
		twoPeers,
		addrs("[2001:db8::1]:3210", "10.0.0.1:3210", "[fe80::1]:1"),
		addrs("[::ffff:10.1.2.3]:99"),
	} {
		b := c.Encode(peers, time.Now())
		got, err := c.Decode(b, time.Now(), DefaultTTL)
		if err != nil {
			t.Fatalf("%v: %v", peers, err)
		}
		want := make([]netip.AddrPort, 0, len(peers))
		for _, p := range peers { // v4 (mapped ones unmapped) first, then v6
			if p.Addr().Unmap().Is4() {
				want = append(want, netip.AddrPortFrom(p.Addr().Unmap(), p.Port()))
			}
		}
		for _, p := range peers {
			if !p.Addr().Unmap().Is4() {
				want = append(want, p)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("round trip of %v gave %v, want %v", peers, got, want)
		}
	}
}

func TestWrongPasswordDoesNotDecode(t *testing.T) {
	b := New("one").Encode(twoPeers, at2000)
	// Another password has other markers: nothing is found.
	if got, err := New("two").Decode(b, at2000, 0); len(got) != 0 || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Decode with another password = %v, %v", got, err)
	}
	// The same markers with another key's payload fail the check.
	one, two := New("one"), New("two")
	mixed := two.Begin() + one.EncodeData(twoPeers, at2000) + two.End()
	if got, err := two.Decode(mixed, at2000, 0); len(got) != 0 {
		t.Fatalf("foreign payload decoded to %v, %v", got, err)
	}
	// The empty password is a key of its own, distinct from others.
	if New("").Begin() == one.Begin() {
		t.Fatal("empty password has the markers of \"one\"")
	}
}

func TestLeadingZeroPayloadDecodes(t *testing.T) {
	// Find a payload whose masked first byte is 0: base62 drops that byte
	// (VpnCloud cannot read such a beacon); peercloud restores it.
	c := New("zero")
	for port := uint16(1); port < 20000; port++ {
		peers := []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port)}
		data := c.EncodeData(peers, at2000)
		raw, _ := fromBase62(data)
		if len(raw) == 3+6+1 {
			continue // no zero byte lost
		}
		if _, err := c.decodePayload(raw, at2000, 0); err == nil {
			t.Fatal("the shortened payload decoded without the retry")
		}
		got, err := c.DecodeData(data, at2000, 0)
		if err != nil || !slices.Equal(got, peers) {
			t.Fatalf("port %d: DecodeData = %v, %v", port, got, err)
		}
		return
	}
	t.Fatal("no payload with a leading zero byte found")
}

func TestDecodeMalformed(t *testing.T) {
	c := New("k")
	if _, err := c.DecodeData("a-b", at2000, 0); !errors.Is(err, ErrInvalidChar) {
		t.Errorf("invalid char: %v", err)
	}
	long := make([]byte, maxDataChars+1)
	for i := range long {
		long[i] = 'z'
	}
	if _, err := c.DecodeData(string(long), at2000, 0); !errors.Is(err, ErrTooLong) {
		t.Errorf("too long: %v", err)
	}
	// A payload whose v4 count exceeds its length: encode a valid one by
	// hand with a wrong count.
	data := []byte{0x07, 0xd0, 5, 1, 2, 3, 4, 0, 1}
	if _, err := c.decodePayload(c.seal(data), at2000, 0); !errors.Is(err, ErrBadLength) {
		t.Errorf("bad count: %v", err)
	}
	// v6 remainder not a multiple of 18.
	data = []byte{0x07, 0xd0, 0, 1, 2, 3}
	if _, err := c.decodePayload(c.seal(data), at2000, 0); !errors.Is(err, ErrBadLength) {
		t.Errorf("bad v6 length: %v", err)
	}
}

// seal masks a plain payload and appends its seed as EncodeData does.
func (c *Codec) seal(plain []byte) []byte {
	out := slices.Clone(plain)
	seed := sha512Sum(out)
	c.mask(out, typeData, seed)
	return append(out, seed^c.seedMask)
}

func TestEncodeCapsV4At255(t *testing.T) {
	c := New("k")
	var many []netip.AddrPort
	for i := range 300 {
		many = append(many, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1))
	}
	got, err := c.Decode(c.Encode(many, at2000), at2000, 0)
	if err != nil || len(got) != 255 || !slices.Equal(got, many[:255]) {
		t.Fatalf("got %d addresses, %v", len(got), err)
	}
}

func BenchmarkDecode(b *testing.B) {
	c := New("mysecretkey")
	for b.Loop() {
		c.Decode("WsHI3GXKaXCveo6uejmZizZ72kR6Y0L9T7h49TXONp1ugfKvvvEik22E", at2000, DefaultTTL)
	}
}

func sha512Sum(b []byte) byte { s := sha512.Sum512(b); return s[0] }
