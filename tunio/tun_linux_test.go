package tunio

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
)

func TestOpenRejectsBadInput(t *testing.T) {
	if _, err := Open(Options{Name: "abcdefghijklmnop"}); !errors.Is(err, ErrBadName) {
		t.Errorf("long name: err = %v, want ErrBadName", err)
	}
	if _, err := Open(Options{Type: Type(7)}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("bad type: err = %v, want ErrUnknownType", err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-tun")
	if _, err := Open(Options{Path: missing}); err == nil {
		t.Errorf("missing path: want error")
	}
}

func TestIfreqFlags(t *testing.T) {
	// IFF_TUN=0x1, IFF_TAP=0x2, IFF_NO_PI=0x1000 (linux/if_tun.h).
	if got := ifreqFlags(TUN); got != 0x1001 {
		t.Errorf("TUN flags = %#x", got)
	}
	if got := ifreqFlags(TAP); got != 0x1002 {
		t.Errorf("TAP flags = %#x", got)
	}
}

func TestPrefixToIPNet(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.0.0.1/24", "10.0.0.1/24"},
		{"fd00::1/64", "fd00::1/64"},
		{"::ffff:10.1.2.3/120", "10.1.2.3/24"},
	} {
		if got := prefixToIPNet(netip.MustParsePrefix(tc.in)).String(); got != tc.want {
			t.Errorf("prefixToIPNet(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
