package tuntest

import (
	"encoding/binary"
	"net/netip"
)

// Protocol numbers and EtherTypes used by the builders.
const (
	ProtoICMP      = 1
	ProtoUDP       = 17
	ProtoICMPv6    = 58
	EtherTypeIPv4  = 0x0800
	EtherTypeARP   = 0x0806
	EtherTypeIPv6  = 0x86DD
	ipv4HeaderLen  = 20
	ipv6HeaderLen  = 40
	udpHeaderLen   = 8
	ethernetHdrLen = 14
)

// UDPPacket builds an IPv4 or IPv6 packet (by src's family; src and dst
// must match) carrying one UDP datagram with correct checksums, as a TUN
// device would carry it.
func UDPPacket(src, dst netip.AddrPort, payload []byte) []byte {
	udpLen := udpHeaderLen + len(payload)
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	var pkt, udp []byte
	if s.Is4() {
		pkt = make([]byte, ipv4HeaderLen+udpLen)
		ipv4Header(pkt, s, d, ProtoUDP, udpLen)
		udp = pkt[ipv4HeaderLen:]
	} else {
		pkt = make([]byte, ipv6HeaderLen+udpLen)
		ipv6Header(pkt, s, d, ProtoUDP, udpLen)
		udp = pkt[ipv6HeaderLen:]
	}
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	copy(udp[8:], payload)
	sum := checksum(udp, pseudoHeaderSum(s, d, ProtoUDP, udpLen))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	return pkt
}

// ParseUDPPacket returns the addresses and payload of an IPv4 or IPv6 UDP
// packet without options or extension headers; ok is false for anything else
// or a truncated packet.
func ParseUDPPacket(pkt []byte) (src, dst netip.AddrPort, payload []byte, ok bool) {
	if len(pkt) < 1 {
		return
	}
	var s, d netip.Addr
	var udp []byte
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < ipv4HeaderLen+udpHeaderLen || pkt[0]&0x0f != 5 || pkt[9] != ProtoUDP {
			return
		}
		s = netip.AddrFrom4([4]byte(pkt[12:16]))
		d = netip.AddrFrom4([4]byte(pkt[16:20]))
		udp = pkt[ipv4HeaderLen:]
	case 6:
		if len(pkt) < ipv6HeaderLen+udpHeaderLen || pkt[6] != ProtoUDP {
			return
		}
		s = netip.AddrFrom16([16]byte(pkt[8:24]))
		d = netip.AddrFrom16([16]byte(pkt[24:40]))
		udp = pkt[ipv6HeaderLen:]
	default:
		return
	}
	l := int(binary.BigEndian.Uint16(udp[4:]))
	if l < udpHeaderLen || l > len(udp) {
		return
	}
	src = netip.AddrPortFrom(s, binary.BigEndian.Uint16(udp[0:]))
	dst = netip.AddrPortFrom(d, binary.BigEndian.Uint16(udp[2:]))
	return src, dst, udp[udpHeaderLen:l], true
}

// EthernetFrame builds an Ethernet II frame, as a TAP device carries it.
func EthernetFrame(dst, src [6]byte, etherType uint16, payload []byte) []byte {
	f := make([]byte, ethernetHdrLen+len(payload))
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:], etherType)
	copy(f[ethernetHdrLen:], payload)
	return f
}

func ipv4Header(b []byte, src, dst netip.Addr, proto uint8, payloadLen int) {
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(ipv4HeaderLen+payloadLen))
	b[6] = 0x40 // don't fragment
	b[8] = 64   // TTL
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], checksum(b[:ipv4HeaderLen], 0))
}

func ipv6Header(b []byte, src, dst netip.Addr, proto uint8, payloadLen int) {
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(payloadLen))
	b[6] = proto
	b[7] = 64 // hop limit
	s, d := src.As16(), dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
}

func pseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	add(src.AsSlice())
	add(dst.AsSlice())
	sum += uint32(proto)
	sum += uint32(length)
	return sum
}

// checksum is the Internet checksum of b, starting from a partial sum.
func checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = (sum >> 16) + (sum & 0xffff)
	}
	return ^uint16(sum)
}
