package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// VpnCloud's own tests from src/types.rs (address_parse_fmt).
func TestAddressParseFormatVpnCloudVectors(t *testing.T) {
	for _, tc := range []struct {
		in   Address
		want string
	}{
		{mustParseAddress(t, "120.45.22.5"), "120.45.22.5"},
		{mustParseAddress(t, "78:2d:16:05:01:02"), "78:2d:16:05:01:02"},
		{Address{Len: 8, Data: [16]byte{3, 56, 120, 45, 22, 5, 1, 2}}, "vlan824/78:2d:16:05:01:02"},
		{mustParseAddress(t, "0001:0203:0405:0607:0809:0a0b:0c0d:0e0f"), "0001:0203:0405:0607:0809:0a0b:0c0d:0e0f"},
		{Address{Len: 2, Data: [16]byte{1, 2}}, "0102"},
		{mustParseAddress(t, "::1"), "0000:0000:0000:0000:0000:0000:0000:0001"},
		{mustParseAddress(t, "::ffff:10.99.7.1"), "0000:0000:0000:0000:0000:ffff:0a63:0701"},
		{Address{}, ""},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func mustParseAddress(t *testing.T, s string) Address {
	t.Helper()
	a, err := ParseAddress(s)
	if err != nil {
		t.Fatalf("ParseAddress(%q): %v", s, err)
	}
	return a
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantLen uint8
		wantErr bool
	}{
		{"10.1.2.3", 4, false},
		{"fe80::1", 16, false},
		{"::ffff:1.2.3.4", 16, false},
		{"0:1:2:3:4:5", 6, false}, // six groups and no "::": not IPv6, so a MAC
		{"a:b:c:d:e:f", 6, false},
		{"+a:b:c:d:e:f", 6, false},
		{"aa:bb:cc:dd:ee:ff", 6, false},
		{"aaa:bb:cc:dd:ee:ff", 0, true},
		{"aa:bb:cc:dd:ee", 0, true},
		{"aa:bb:cc:dd:ee:", 0, true},
		{"fe80::1%eth0", 0, true},
		{"", 0, true},
		{"10.1.2", 0, true},
		{"010.1.2.3", 0, true},
		{"hello", 0, true},
	} {
		a, err := ParseAddress(tc.in)
		if tc.wantErr {
			if !errors.Is(err, ErrBadAddress) {
				t.Errorf("ParseAddress(%q) = %v, %v; want ErrBadAddress", tc.in, a, err)
			}
			continue
		}
		if err != nil || a.Len != tc.wantLen {
			t.Errorf("ParseAddress(%q) = %v (len %d), %v; want len %d", tc.in, a, a.Len, err, tc.wantLen)
		}
	}
}

func TestAddressConstructors(t *testing.T) {
	a := AddressFromIP(netip.MustParseAddr("10.95.7.1"))
	if a.Len != 4 || !bytes.Equal(a.Bytes(), []byte{10, 95, 7, 1}) {
		t.Errorf("AddressFromIP v4 = %v % x", a.Len, a.Bytes())
	}
	if ip, ok := a.IP(); !ok || ip != netip.MustParseAddr("10.95.7.1") {
		t.Errorf("IP() = %v %v", ip, ok)
	}
	a6 := AddressFromIP(netip.MustParseAddr("fe80::1%eth0"))
	if ip, ok := a6.IP(); a6.Len != 16 || !ok || ip != netip.MustParseAddr("fe80::1") {
		t.Errorf("AddressFromIP v6 = %v, IP() %v %v", a6, ip, ok)
	}
	if z := AddressFromIP(netip.Addr{}); z.Len != 0 {
		t.Errorf("AddressFromIP(invalid).Len = %d", z.Len)
	}
	mac := [6]byte{0x78, 0x2d, 0x16, 5, 1, 2}
	m := AddressFromMAC(mac)
	if m.String() != "78:2d:16:05:01:02" {
		t.Errorf("AddressFromMAC = %v", m)
	}
	if _, ok := m.IP(); ok {
		t.Error("a MAC address has no IP")
	}
	v := AddressFromVLANMAC(824, mac)
	if v.String() != "vlan824/78:2d:16:05:01:02" || v.Len != 8 {
		t.Errorf("AddressFromVLANMAC = %v", v)
	}
}

// VpnCloud's address_decode_encode and address_eq tests, plus more.
func TestAddressWire(t *testing.T) {
	a := mustParseAddress(t, "120.45.22.5")
	buf := a.AppendTo(nil)
	if !bytes.Equal(buf, []byte{4, 120, 45, 22, 5}) {
		t.Fatalf("AppendTo = % x", buf)
	}
	got, n, err := DecodeAddress(buf)
	if err != nil || n != 5 || !got.Equal(a) {
		t.Fatalf("DecodeAddress = %v %d %v", got, n, err)
	}
	m := mustParseAddress(t, "78:2d:16:05:01:02")
	buf = m.AppendTo(nil)
	if !bytes.Equal(buf, []byte{6, 0x78, 0x2d, 0x16, 5, 1, 2}) {
		t.Fatalf("AppendTo = % x", buf)
	}
	if _, _, err := DecodeAddress(buf[:1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("1 byte: %v", err)
	}
	if _, _, err := DecodeAddress(nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("empty: %v", err)
	}
	buf[0] = 100
	if _, _, err := DecodeAddress(buf); !errors.Is(err, ErrAddressTooLong) {
		t.Errorf("len 100: %v", err)
	}
	buf[0] = 17
	if _, _, err := DecodeAddress(append(buf, make([]byte, 20)...)); !errors.Is(err, ErrAddressTooLong) {
		t.Errorf("len 17: %v", err)
	}
	buf[0] = 5
	if _, _, err := DecodeAddress(buf[:4]); !errors.Is(err, ErrTruncated) {
		t.Errorf("len 5 of 3: %v", err)
	}
	// Equality looks only at the significant bytes.
	x := Address{Len: 3, Data: [16]byte{1, 2, 3, 4}}
	y := Address{Len: 3, Data: [16]byte{1, 2, 3, 5}}
	z := Address{Len: 4, Data: [16]byte{1, 2, 3, 4}}
	if !x.Equal(y) || x.Equal(z) || z.Equal(Address{Len: 4, Data: [16]byte{1, 2, 3, 5}}) {
		t.Error("Equal does not compare length and significant bytes")
	}
	// A hand-built Len above 16 must not panic anywhere.
	bad := Address{Len: 200}
	_ = bad.String()
	_ = bad.Bytes()
	_ = bad.AppendTo(nil)
	_ = bad.Equal(bad)
	_ = (Range{Base: bad}).Contains(bad)
}

// VpnCloud's address_range_decode_encode test.
func TestRangeWire(t *testing.T) {
	r := Range{Base: Address{Len: 4, Data: [16]byte{0, 1, 2, 3}}, PrefixLen: 24}
	buf := r.AppendTo(nil)
	if !bytes.Equal(buf, []byte{4, 0, 1, 2, 3, 24}) {
		t.Fatalf("AppendTo = % x", buf)
	}
	got, n, err := DecodeRange(buf)
	if err != nil || n != 6 || got != r {
		t.Fatalf("DecodeRange = %v %d %v", got, n, err)
	}
	if _, _, err := DecodeRange(buf[:5]); !errors.Is(err, ErrTruncated) {
		t.Errorf("missing prefix: %v", err)
	}
	buf[0] = 17
	if _, _, err := DecodeRange(buf); !errors.Is(err, ErrAddressTooLong) {
		t.Errorf("len 17: %v", err)
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  error
	}{
		{"10.1.0.0/16", "10.1.0.0/16", nil},
		{"10.95.7.1", "10.95.7.1/32", nil},
		{"10.95.7.1/+8", "10.95.7.1/8", nil},
		{"0.0.0.0/0", "0.0.0.0/0", nil},
		{"fd00::/8", "fd00:0000:0000:0000:0000:0000:0000:0000/8", nil},
		{"fd00::1", "fd00:0000:0000:0000:0000:0000:0000:0001/128", nil},
		{"aa:bb:cc:dd:ee:ff/48", "aa:bb:cc:dd:ee:ff/48", nil},
		{"10.1.0.0/33", "", ErrBadPrefix},
		{"10.1.0.0/", "", ErrBadPrefix},
		{"10.1.0.0/x", "", ErrBadPrefix},
		{"10.1.0.0/-1", "", ErrBadPrefix},
		{"10.1.0.0/256", "", ErrBadPrefix},
		{"10.1.0/16", "", ErrBadAddress},
		{"/16", "", ErrBadAddress},
		{"", "", ErrBadAddress},
	} {
		r, err := ParseRange(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("ParseRange(%q) = %v, %v; want %v", tc.in, r, err, tc.err)
			}
			continue
		}
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseRange(%q) = %v, %v; want %s", tc.in, r, err, tc.want)
		}
	}
}

func TestRangeContains(t *testing.T) {
	for _, tc := range []struct {
		r, a string
		want bool
	}{
		{"10.1.0.0/16", "10.1.255.3", true},
		{"10.1.0.0/16", "10.2.0.0", false},
		{"10.1.0.0/15", "10.0.9.9", true},
		{"10.1.0.0/15", "10.2.0.0", false},
		{"10.95.7.1/32", "10.95.7.1", true},
		{"10.95.7.1/32", "10.95.7.2", false},
		{"0.0.0.0/0", "192.168.1.1", true},
		{"0.0.0.0/0", "fd00::1", false}, // lengths differ
		{"10.0.0.0/8", "0a00:0000::", false},
		{"fd00::/8", "fdff::1", true},
		{"fd00::/9", "fd80::1", false},
		{"aa:bb:cc:dd:ee:ff/48", "aa:bb:cc:dd:ee:ff", true},
		{"aa:bb:cc:dd:ee:00/40", "aa:bb:cc:dd:ee:ff", true},
	} {
		r, err := ParseRange(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Contains(mustParseAddress(t, tc.a)); got != tc.want {
			t.Errorf("%s.Contains(%s) = %v, want %v", tc.r, tc.a, got, tc.want)
		}
	}
	// VpnCloud's quirk kept: a prefix longer than the address never matches.
	r := Range{Base: mustParseAddress(t, "10.0.0.1"), PrefixLen: 33}
	if r.Contains(r.Base) {
		t.Error("/33 of an IPv4 address matched")
	}
}

func TestRangeContainsAllocs(t *testing.T) {
	r := Range{Base: mustParseAddress(t, "10.1.0.0"), PrefixLen: 16}
	a := mustParseAddress(t, "10.1.2.3")
	if n := testing.AllocsPerRun(100, func() { _ = r.Contains(a) }); n != 0 {
		t.Errorf("Contains allocates %v times", n)
	}
}

func BenchmarkRangeContains(b *testing.B) {
	r := Range{Base: AddressFromIP(netip.MustParseAddr("fd00:1::")), PrefixLen: 64}
	a := AddressFromIP(netip.MustParseAddr("fd00:1::5"))
	for b.Loop() {
		if !r.Contains(a) {
			b.Fatal("no match")
		}
	}
}
