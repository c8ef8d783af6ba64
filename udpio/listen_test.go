package udpio

import (
	"errors"
	"net/netip"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseListen(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"3210", "[::]:3210"},
		{":3210", "[::]:3210"},
		{"*:3210", "[::]:3210"},
		{" 4000 ", "[::]:4000"},
		{"0.0.0.0:3210", "0.0.0.0:3210"},
		{"[::]:3210", "[::]:3210"},
		{"127.0.0.1:3210", "127.0.0.1:3210"},
		{"[::ffff:127.0.0.1]:99", "127.0.0.1:99"},
		{"127.0.0.1", "127.0.0.1:3210"},
		{"::1", "[::1]:3210"},
		{"[fe80::1%eth0]:5", "[fe80::1%eth0]:5"},
	} {
		got, err := ParseListen(tc.in)
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseListen(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "65536", ":x", "*:", "*:70000", "1.2.3.4:", "[::]:", "1.2.3:5", "host:3210"} {
		if got, err := ParseListen(bad); !errors.Is(err, ErrBadListen) {
			t.Errorf("ParseListen(%q) = %v, %v; want ErrBadListen", bad, got, err)
		}
	}
}

func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"3210", ":3210", "*:1", "[::]:3210", "1.2.3.4", "::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := ParseListen(s)
		if err == nil && (!ap.Addr().IsValid() || ap.Addr().Is4In6()) {
			t.Fatalf("ParseListen(%q) = %v without error", s, ap)
		}
	})
}

func TestSockaddrRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		v6   bool
		len  uint32
		want string
	}{
		{"10.1.2.3:80", false, 16, "10.1.2.3:80"},
		{"10.1.2.3:80", true, 28, "10.1.2.3:80"}, // sent v4-mapped, read back plain
		{"[::ffff:10.1.2.3]:80", false, 16, "10.1.2.3:80"},
		{"[2001:db8::1]:65535", true, 28, "[2001:db8::1]:65535"},
		{"[fe80::1%7]:1", true, 28, "[fe80::1%7]:1"},
	} {
		var b sockaddrBuf
		l, err := b.encode(netip.MustParseAddrPort(tc.in), tc.v6)
		if err != nil || l != tc.len {
			t.Fatalf("encode(%s, v6=%v) = %d, %v", tc.in, tc.v6, l, err)
		}
		if got := b.decode().String(); got != tc.want {
			t.Errorf("decode(encode(%s)) = %s, want %s", tc.in, got, tc.want)
		}
	}
	var b sockaddrBuf
	if _, err := b.encode(netip.MustParseAddrPort("[2001:db8::1]:1"), false); !errors.Is(err, ErrAddressFamily) {
		t.Errorf("v6 on v4 socket: %v", err)
	}
	for _, bad := range []netip.AddrPort{{}, netip.MustParseAddrPort("0.0.0.0:1"), netip.MustParseAddrPort("10.0.0.1:0"), netip.MustParseAddrPort("[::]:1")} {
		if _, err := b.encode(bad, true); !errors.Is(err, ErrBadAddress) {
			t.Errorf("encode(%v): %v, want ErrBadAddress", bad, err)
		}
	}
	b = sockaddrBuf{0xff, 0xff}
	if got := b.decode(); got.IsValid() {
		t.Errorf("unknown family decoded to %v", got)
	}
}
