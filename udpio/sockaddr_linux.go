package udpio

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// sockaddrBuf holds a struct sockaddr_in or sockaddr_in6 in wire layout:
// family (host order), port (network order), then the address fields.
type sockaddrBuf [unix.SizeofSockaddrInet6]byte

// decode returns the address in b, IPv4-mapped addresses unmapped. It
// does not allocate unless the address carries an IPv6 scope id.
func (b *sockaddrBuf) decode() netip.AddrPort {
	port := binary.BigEndian.Uint16(b[2:4])
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case unix.AF_INET6:
		a := netip.AddrFrom16([16]byte(b[8:24]))
		if a.Is4In6() {
			return netip.AddrPortFrom(a.Unmap(), port)
		}
		if scope := binary.NativeEndian.Uint32(b[24:28]); scope != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(scope), 10))
		}
		return netip.AddrPortFrom(a, port)
	default:
		return netip.AddrPort{}
	}
}

// encode writes ap into b for a socket of family v6 (AF_INET6) or not
// (AF_INET) and returns the sockaddr length.
func (b *sockaddrBuf) encode(ap netip.AddrPort, v6 bool) (uint32, error) {
	a := ap.Addr()
	if !a.IsValid() || a.IsUnspecified() || ap.Port() == 0 {
		return 0, ErrBadAddress
	}
	*b = sockaddrBuf{}
	binary.BigEndian.PutUint16(b[2:4], ap.Port())
	if !v6 {
		a = a.Unmap()
		if !a.Is4() {
			return 0, ErrAddressFamily
		}
		binary.NativeEndian.PutUint16(b[0:2], unix.AF_INET)
		a4 := a.As4()
		copy(b[4:8], a4[:])
		return unix.SizeofSockaddrInet4, nil
	}
	binary.NativeEndian.PutUint16(b[0:2], unix.AF_INET6)
	a16 := a.As16() // an IPv4 address comes out v4-mapped
	copy(b[8:24], a16[:])
	if z := a.Zone(); z != "" {
		binary.NativeEndian.PutUint32(b[24:28], zoneIndex(z))
	}
	return unix.SizeofSockaddrInet6, nil
}

// zoneIndex resolves an IPv6 zone, numeric or an interface name.
func zoneIndex(z string) uint32 {
	if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(z); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}
