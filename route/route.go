// Package route owns the data plane's forwarding decisions: extracting the
// source and destination addresses of IP packets (TUN) and Ethernet frames
// (TAP) exactly as VpnCloud 2.3.0's payload.rs does, and the immutable
// longest-prefix-match Table the control plane builds from the peers'
// claims. A Table is never modified after NewTable, so lookups need no lock.
package route

import "errors"

// Errors of the packet parsers.
var (
	ErrShort   = errors.New("route: packet too short")
	ErrVersion = errors.New("route: not an IPv4 or IPv6 packet")
)

// Key is an address as VpnCloud's Address: IPv4 (Len 4), IPv6 (16), MAC (6)
// or VLAN-tagged MAC (8: 2 bytes VLAN id, then the MAC), in the first Len
// bytes of Data; the rest of Data is zero.
type Key struct {
	Len  uint8
	Data [16]byte
}

// IPDst returns the destination address of an IPv4 or IPv6 packet.
func IPDst(pkt []byte) (Key, error) { return ipAddr(pkt, 16, 24) }

// IPSrc returns the source address of an IPv4 or IPv6 packet.
func IPSrc(pkt []byte) (Key, error) { return ipAddr(pkt, 12, 8) }

// ipAddr reads the address at off4 (IPv4) or off6 (IPv6), as payload.rs's
// Packet::parse (it checks only the version nibble and the length).
func ipAddr(pkt []byte, off4, off6 int) (Key, error) {
	var k Key
	if len(pkt) < 1 {
		return k, ErrShort
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return k, ErrShort
		}
		k.Len = 4
		copy(k.Data[:4], pkt[off4:off4+4])
	case 6:
		if len(pkt) < 40 {
			return k, ErrShort
		}
		k.Len = 16
		copy(k.Data[:], pkt[off6:off6+16])
	default:
		return k, ErrVersion
	}
	return k, nil
}

// MACDst returns the destination of an Ethernet frame: the MAC, or for an
// 802.1Q-tagged frame with a non-zero VLAN id the 12-bit VLAN id (2 bytes,
// big-endian) followed by the MAC, as payload.rs's Frame::parse.
func MACDst(frame []byte) (Key, error) { return macAddr(frame, 0) }

// MACSrc returns the source of an Ethernet frame, like MACDst.
func MACSrc(frame []byte) (Key, error) { return macAddr(frame, 6) }

func macAddr(frame []byte, off int) (Key, error) {
	var k Key
	if len(frame) < 14 {
		return k, ErrShort
	}
	if frame[12] == 0x81 && frame[13] == 0x00 {
		if len(frame) < 16 {
			return k, ErrShort
		}
		vlan0, vlan1 := frame[14]&0x0f, frame[15]
		if vlan0 != 0 || vlan1 != 0 {
			k.Len = 8
			k.Data[0], k.Data[1] = vlan0, vlan1
			copy(k.Data[2:8], frame[off:off+6])
			return k, nil
		}
	}
	k.Len = 6
	copy(k.Data[:6], frame[off:off+6])
	return k, nil
}
