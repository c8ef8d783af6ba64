package udpio

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseListen parses a listen address the way VpnCloud's --listen does
// (src/net.rs parse_listen), plus ":port":
//
//	"3210", ":3210", "*:3210"  -> [::]:3210 (all addresses, both families)
//	"[::]:3210", "0.0.0.0:3210", "127.0.0.1:3210", "[fe80::1%eth0]:3210"
//	"127.0.0.1", "::1"         -> that address, port 3210
//
// IPv4 addresses are returned plain (not v4-mapped).
func ParseListen(s string) (netip.AddrPort, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutPrefix(s, "*:"); ok {
		return anyPort(s, p)
	}
	if p, ok := strings.CutPrefix(s, ":"); ok && !strings.Contains(p, ":") {
		return anyPort(s, p)
	}
	if !strings.Contains(s, ":") {
		if port, err := strconv.ParseUint(s, 10, 16); err == nil {
			return netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(port)), nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("udpio.ParseListen %q: %w", s, ErrBadListen)
		}
		return netip.AddrPortFrom(a.Unmap(), DefaultPort), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), DefaultPort), nil
	}
	return netip.AddrPort{}, fmt.Errorf("udpio.ParseListen %q: %w", s, ErrBadListen)
}

func anyPort(s, p string) (netip.AddrPort, error) {
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("udpio.ParseListen %q: %w", s, ErrBadListen)
	}
	return netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(port)), nil
}
