package route

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
)

// Key is an address the table is keyed by, laid out like VpnCloud's
// Address: Len significant bytes at the front of Data (4 IPv4, 6 MAC,
// 8 VLAN id + MAC, 16 IPv6). Bytes past Len are ignored by Equal and by
// Table lookups.
type Key struct {
	Len  uint8
	Data [16]byte
}

// KeyFromBytes returns a Key holding b.
func KeyFromBytes(b []byte) (Key, error) {
	var k Key
	if len(b) > len(k.Data) {
		return k, fmt.Errorf("route.KeyFromBytes %d bytes: %w", len(b), ErrKeyLen)
	}
	k.Len = uint8(len(b))
	copy(k.Data[:], b)
	return k, nil
}

// KeyFromAddr returns the Key of an IP address: 4 bytes for IPv4 (and
// IPv4-mapped IPv6 is kept as 16 bytes, as the kernel delivers it), 16 for
// IPv6. The zero Addr gives the zero Key.
func KeyFromAddr(a netip.Addr) Key {
	var k Key
	switch {
	case a.Is4():
		b := a.As4()
		k.Len = 4
		copy(k.Data[:], b[:])
	case a.Is6():
		k.Len = 16
		k.Data = a.As16()
	}
	return k
}

// Bytes returns the significant bytes of k (a slice of a copy).
func (k Key) Bytes() []byte {
	n := min(int(k.Len), len(k.Data))
	return k.Data[:n:n]
}

// Equal reports whether k and o have the same length and significant bytes.
func (k Key) Equal(o Key) bool {
	if k.Len != o.Len || k.Len > 16 {
		return k.Len == o.Len && k.Data == o.Data
	}
	return string(k.Data[:k.Len]) == string(o.Data[:o.Len])
}

// String formats k as VpnCloud does: dotted IPv4, colon-separated MAC,
// "vlanN/mac" for 8 bytes, eight hex groups for IPv6, hex otherwise.
func (k Key) String() string {
	d := k.Data
	switch k.Len {
	case 4:
		return fmt.Sprintf("%d.%d.%d.%d", d[0], d[1], d[2], d[3])
	case 6:
		return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", d[0], d[1], d[2], d[3], d[4], d[5])
	case 8:
		return fmt.Sprintf("vlan%d/%02x:%02x:%02x:%02x:%02x:%02x",
			binary.BigEndian.Uint16(d[0:2]), d[2], d[3], d[4], d[5], d[6], d[7])
	case 16:
		return fmt.Sprintf("%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x",
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15])
	default:
		return hex.EncodeToString(k.Bytes())
	}
}
