package route

// The parsers below run once per packet on the data path: no allocation, no
// panics, bounds checked up front.

// IPAddrs returns the source and destination addresses of an IPv4 or IPv6
// packet (VpnCloud payload.rs Packet::parse): the version is the high
// nibble of byte 0; IPv4 needs 20 bytes and takes bytes 12..16 and 16..20;
// IPv6 needs 40 bytes and takes 8..24 and 24..40. Nothing else in the header
// is checked.
func IPAddrs(pkt []byte) (src, dst Key, err error) {
	if len(pkt) == 0 {
		return src, dst, ErrShort
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return src, dst, ErrShort
		}
		src.Len, dst.Len = 4, 4
		copy(src.Data[:4], pkt[12:16])
		copy(dst.Data[:4], pkt[16:20])
		return src, dst, nil
	case 6:
		if len(pkt) < 40 {
			return src, dst, ErrShort
		}
		src.Len, dst.Len = 16, 16
		copy(src.Data[:], pkt[8:24])
		copy(dst.Data[:], pkt[24:40])
		return src, dst, nil
	default:
		return src, dst, ErrVersion
	}
}

// IPDst returns the destination address of an IP packet; see [IPAddrs].
func IPDst(pkt []byte) (Key, error) {
	_, dst, err := IPAddrs(pkt)
	return dst, err
}

// IPSrc returns the source address of an IP packet; see [IPAddrs].
func IPSrc(pkt []byte) (Key, error) {
	src, _, err := IPAddrs(pkt)
	return src, err
}

// MACAddrs returns the source and destination addresses of an Ethernet
// frame (VpnCloud payload.rs Frame::parse). An untagged frame (14 bytes at
// least) gives 6-byte MAC keys. A frame whose EtherType is 0x8100 (802.1Q;
// 16 bytes at least) gives 8-byte keys: the 12-bit VLAN id big-endian (the
// TCI with its priority and DEI bits cleared) followed by the MAC. Nested
// tags are ignored, and 0x88a8 is not treated as a tag.
//
// VLAN id 0 still gives 8-byte keys: VpnCloud 2.3.0 means to treat it as
// untagged, but its test `src[0..1] == [0, 0]` compares a 1-byte slice
// with a 2-byte array and is never true, and compatibility wins here.
func MACAddrs(frame []byte) (src, dst Key, err error) {
	if len(frame) < 14 {
		return src, dst, ErrShort
	}
	if frame[12] != 0x81 || frame[13] != 0x00 {
		src.Len, dst.Len = 6, 6
		copy(dst.Data[:6], frame[0:6])
		copy(src.Data[:6], frame[6:12])
		return src, dst, nil
	}
	if len(frame) < 16 {
		return src, dst, ErrShort
	}
	src.Len, dst.Len = 8, 8
	vlanHi, vlanLo := frame[14]&0x0f, frame[15]
	src.Data[0], src.Data[1] = vlanHi, vlanLo
	dst.Data[0], dst.Data[1] = vlanHi, vlanLo
	copy(dst.Data[2:8], frame[0:6])
	copy(src.Data[2:8], frame[6:12])
	return src, dst, nil
}

// MACDst returns the destination address of an Ethernet frame; see
// [MACAddrs].
func MACDst(frame []byte) (Key, error) {
	_, dst, err := MACAddrs(frame)
	return dst, err
}

// MACSrc returns the source address of an Ethernet frame; see [MACAddrs].
func MACSrc(frame []byte) (Key, error) {
	src, _, err := MACAddrs(frame)
	return src, err
}
