package wire

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// MaxAddressLen is the longest Address VpnCloud accepts (an IPv6 address).
const MaxAddressLen = 16

// Address is VpnCloud's Address: up to 16 bytes of which the first Len count.
// The lengths in use are 4 (IPv4), 16 (IPv6), 6 (MAC) and 8 (VLAN id + MAC);
// any other length up to 16 is carried but only printed as hex. Bytes of Data
// beyond Len should be zero; constructors and decoders guarantee it, and
// Equal ignores them. The zero value is the empty address (Len 0).
type Address struct {
	Len  uint8
	Data [16]byte
}

// AddressFromIP returns the Address of ip: 4 bytes for an IPv4 address, 16
// for an IPv6 one (an IPv4-mapped IPv6 address stays 16 bytes, as VpnCloud
// keeps it). The zone is dropped. The invalid netip.Addr gives the empty
// Address.
func AddressFromIP(ip netip.Addr) Address {
	var a Address
	switch {
	case ip.Is4():
		a.Len = 4
		v4 := ip.As4()
		copy(a.Data[:], v4[:])
	case ip.Is6():
		a.Len = 16
		a.Data = ip.As16()
	}
	return a
}

// AddressFromMAC returns the 6-byte Address of an Ethernet MAC address.
func AddressFromMAC(mac [6]byte) Address {
	a := Address{Len: 6}
	copy(a.Data[:], mac[:])
	return a
}

// AddressFromVLANMAC returns the 8-byte Address VpnCloud uses for a MAC
// address inside a VLAN: the 16-bit VLAN id (big-endian) then the MAC.
func AddressFromVLANMAC(vlan uint16, mac [6]byte) Address {
	a := Address{Len: 8}
	a.Data[0] = byte(vlan >> 8)
	a.Data[1] = byte(vlan)
	copy(a.Data[2:], mac[:])
	return a
}

// Bytes returns a new slice holding the significant bytes of a.
func (a Address) Bytes() []byte {
	n := min(int(a.Len), MaxAddressLen)
	return append([]byte(nil), a.Data[:n]...)
}

// IP returns a as an IP address if it is 4 or 16 bytes long.
func (a Address) IP() (netip.Addr, bool) {
	switch a.Len {
	case 4:
		return netip.AddrFrom4([4]byte(a.Data[:4])), true
	case 16:
		return netip.AddrFrom16(a.Data), true
	}
	return netip.Addr{}, false
}

// Equal reports whether a and b have the same length and significant bytes.
func (a Address) Equal(b Address) bool {
	if a.Len != b.Len {
		return false
	}
	n := min(int(a.Len), MaxAddressLen)
	return bytes.Equal(a.Data[:n], b.Data[:n])
}

// String prints a as VpnCloud does: dotted IPv4, lower-case MAC with colons,
// "vlanN/MAC" for VLAN+MAC, all 16 bytes of an IPv6 address as eight
// zero-padded groups (no "::" shortening), hex for any other length.
func (a Address) String() string {
	d := a.Data
	switch a.Len {
	case 4:
		return fmt.Sprintf("%d.%d.%d.%d", d[0], d[1], d[2], d[3])
	case 6:
		return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", d[0], d[1], d[2], d[3], d[4], d[5])
	case 8:
		vlan := uint16(d[0])<<8 | uint16(d[1])
		return fmt.Sprintf("vlan%d/%02x:%02x:%02x:%02x:%02x:%02x", vlan, d[2], d[3], d[4], d[5], d[6], d[7])
	case 16:
		var sb strings.Builder
		for i := 0; i < 16; i += 2 {
			if i > 0 {
				sb.WriteByte(':')
			}
			fmt.Fprintf(&sb, "%02x%02x", d[i], d[i+1])
		}
		return sb.String()
	}
	return hex.EncodeToString(d[:min(int(a.Len), MaxAddressLen)])
}

// ParseAddress parses text as VpnCloud's Address::from_str does: an IPv4
// address, else an IPv6 address (without zone), else a MAC address of six
// colon-separated hex bytes.
func ParseAddress(text string) (Address, error) {
	if ip, err := netip.ParseAddr(text); err == nil && ip.Zone() == "" {
		return AddressFromIP(ip), nil
	}
	parts := strings.Split(text, ":")
	if len(parts) == 6 {
		var mac [6]byte
		for i, p := range parts {
			// Rust's u8::from_str_radix accepts one leading '+'.
			if len(p) > 1 && p[0] == '+' {
				p = p[1:]
			}
			v, err := strconv.ParseUint(p, 16, 8)
			if err != nil {
				return Address{}, fmt.Errorf("wire.ParseAddress %q: %w", text, ErrBadAddress)
			}
			mac[i] = byte(v)
		}
		return AddressFromMAC(mac), nil
	}
	return Address{}, fmt.Errorf("wire.ParseAddress %q: %w", text, ErrBadAddress)
}

// AppendTo appends a's wire form, the length byte and the significant bytes,
// to dst.
func (a Address) AppendTo(dst []byte) []byte {
	n := min(int(a.Len), MaxAddressLen)
	dst = append(dst, byte(n))
	return append(dst, a.Data[:n]...)
}

// DecodeAddress reads an Address in wire form from the start of b and
// returns it with the number of bytes it took.
func DecodeAddress(b []byte) (Address, int, error) {
	if len(b) < 1 {
		return Address{}, 0, fmt.Errorf("wire.DecodeAddress: %w", ErrTruncated)
	}
	n := int(b[0])
	if n > MaxAddressLen {
		return Address{}, 0, fmt.Errorf("wire.DecodeAddress: length %d: %w", n, ErrAddressTooLong)
	}
	if len(b) < 1+n {
		return Address{}, 0, fmt.Errorf("wire.DecodeAddress: %w", ErrTruncated)
	}
	a := Address{Len: uint8(n)}
	copy(a.Data[:], b[1:1+n])
	return a, 1 + n, nil
}

// Range is VpnCloud's Range: an address prefix, used as a claim (the
// addresses a node routes into its tunnel).
type Range struct {
	Base      Address
	PrefixLen uint8
}

// ParseRange parses "BASE/PREFIX" (BASE as ParseAddress reads it, PREFIX a
// decimal number). Unlike VpnCloud, which requires the "/PREFIX", an address
// without one means the full address length (10.1.2.3 = 10.1.2.3/32), and a
// prefix longer than the address is rejected (VpnCloud accepts it and the
// claim then never matches).
func ParseRange(text string) (Range, error) {
	baseText, prefixText, hasPrefix := strings.Cut(text, "/")
	base, err := ParseAddress(baseText)
	if err != nil {
		return Range{}, fmt.Errorf("wire.ParseRange %q: %w", text, ErrBadAddress)
	}
	bitsLen := int(base.Len) * 8
	if !hasPrefix {
		return Range{Base: base, PrefixLen: uint8(bitsLen)}, nil
	}
	if len(prefixText) > 1 && prefixText[0] == '+' { // as Rust's u8::from_str
		prefixText = prefixText[1:]
	}
	p, err := strconv.ParseUint(prefixText, 10, 8)
	if err != nil || int(p) > bitsLen {
		return Range{}, fmt.Errorf("wire.ParseRange %q: %w", text, ErrBadPrefix)
	}
	return Range{Base: base, PrefixLen: uint8(p)}, nil
}

// String prints r as VpnCloud does: "BASE/PREFIX".
func (r Range) String() string {
	return r.Base.String() + "/" + strconv.Itoa(int(r.PrefixLen))
}

// Contains reports whether addr lies in r, exactly as VpnCloud's
// Range::matches: the lengths must be equal and the leading common bits of
// base and addr at least the prefix length (so a prefix longer than the
// address never matches).
func (r Range) Contains(addr Address) bool {
	if r.Base.Len != addr.Len {
		return false
	}
	n := min(int(addr.Len), MaxAddressLen)
	match := 0
	for i := 0; i < n; i++ {
		m := addr.Data[i] ^ r.Base.Data[i]
		match += bits.LeadingZeros8(m)
		if m != 0 {
			break
		}
	}
	return match >= int(r.PrefixLen)
}

// AppendTo appends r's wire form, the base address then the prefix byte, to
// dst.
func (r Range) AppendTo(dst []byte) []byte {
	return append(r.Base.AppendTo(dst), r.PrefixLen)
}

// DecodeRange reads a Range in wire form from the start of b and returns it
// with the number of bytes it took.
func DecodeRange(b []byte) (Range, int, error) {
	a, n, err := DecodeAddress(b)
	if err != nil {
		return Range{}, 0, fmt.Errorf("wire.DecodeRange: %w", err)
	}
	if len(b) < n+1 {
		return Range{}, 0, fmt.Errorf("wire.DecodeRange: prefix: %w", ErrTruncated)
	}
	return Range{Base: a, PrefixLen: b[n]}, n + 1, nil
}
