package tunio

import (
	"encoding/binary"
)

// refSum is the textbook RFC 1071 sum, byte pair by byte pair, folded late:
// the independent reference for sum16.
func refSum(b []byte) uint32 {
	var s uint64
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint32(s)
}

// spec describes a test packet.
type spec struct {
	v6, udp    bool
	sport      uint16
	seq, ack   uint32
	flags      uint8
	opts       []byte // TCP options, a multiple of 4 bytes
	id         uint16
	ttl, tos   uint8
	payload    []byte
	badCsum    bool
	ipv4Opts   bool
	dstLastOct byte
	src, dst   []byte // addresses (4 or 16 bytes); nil means the defaults
	dport      uint16
}

// build makes an IPv4/IPv6 TCP/UDP packet with checksums computed by refSum.
func build(s spec) []byte {
	ihl := 20
	if s.v6 {
		ihl = 40
	} else if s.ipv4Opts {
		ihl = 24
	}
	thl := 8
	if !s.udp {
		thl = 20 + len(s.opts)
	}
	p := make([]byte, ihl+thl+len(s.payload))
	proto := byte(protoTCP)
	if s.udp {
		proto = protoUDP
	}
	ttl := s.ttl
	if ttl == 0 {
		ttl = 64
	}
	dst := s.dstLastOct
	if dst == 0 {
		dst = 2
	}
	var addrs []byte
	if s.v6 {
		p[0], p[1] = 0x60|s.tos>>4, s.tos<<4
		binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
		p[6], p[7] = proto, ttl
		copy(p[8:], []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
		copy(p[24:], []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, dst})
		if s.src != nil {
			copy(p[8:], s.src)
			copy(p[24:], s.dst)
		}
		addrs = p[8:40]
	} else {
		p[0], p[1] = 0x40|byte(ihl/4), s.tos
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		binary.BigEndian.PutUint16(p[4:], s.id)
		p[6] = 0x40 // DF
		p[8], p[9] = ttl, proto
		copy(p[12:], []byte{10, 0, 0, 1, 10, 0, 0, dst})
		if s.src != nil {
			copy(p[12:], s.src)
			copy(p[16:], s.dst)
		}
		binary.BigEndian.PutUint16(p[10:], ^uint16(refSum(p[:ihl])))
		addrs = p[12:20]
	}
	l4 := p[ihl:]
	sport := s.sport
	if sport == 0 {
		sport = 40000
	}
	binary.BigEndian.PutUint16(l4[0:], sport)
	dport := s.dport
	if dport == 0 {
		dport = 5201
	}
	binary.BigEndian.PutUint16(l4[2:], dport)
	csAt := udpChecksumOff
	if s.udp {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	} else {
		csAt = tcpChecksumOff
		binary.BigEndian.PutUint32(l4[4:], s.seq)
		binary.BigEndian.PutUint32(l4[8:], s.ack)
		l4[12] = byte(thl/4) << 4
		l4[13] = s.flags
		binary.BigEndian.PutUint16(l4[14:], 65535)
		copy(l4[20:], s.opts)
	}
	copy(l4[thl:], s.payload)
	ps := refSum(addrs) + uint32(proto) + uint32(len(l4))
	c := ^uint16(refSum(append(u16(ps), l4...)))
	if c == 0 {
		c = 0xffff
	}
	if s.badCsum {
		c ^= 0x5555
	}
	binary.BigEndian.PutUint16(l4[csAt:], c)
	return p
}

// u16 renders a (folded) sum as two big-endian bytes for refSum.
func u16(s uint32) []byte {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return []byte{byte(s >> 8), byte(s)}
}

// verify checks a packet's length fields and checksums with refSum.
func verify(t fatalfer, p []byte) {
	t.Helper()
	var ihl int
	var addrs []byte
	var proto byte
	if p[0]>>4 == 6 {
		ihl, addrs, proto = 40, p[8:40], p[6]
		if int(binary.BigEndian.Uint16(p[4:]))+40 != len(p) {
			t.Fatalf("IPv6 payload length %d for %d bytes", binary.BigEndian.Uint16(p[4:]), len(p))
		}
	} else {
		ihl, addrs, proto = int(p[0]&15)*4, p[12:20], p[9]
		if int(binary.BigEndian.Uint16(p[2:])) != len(p) {
			t.Fatalf("IPv4 total length %d for %d bytes", binary.BigEndian.Uint16(p[2:]), len(p))
		}
		if refSum(p[:ihl]) != 0xffff {
			t.Fatalf("IPv4 header checksum wrong")
		}
	}
	l4 := p[ihl:]
	if proto == protoUDP && int(binary.BigEndian.Uint16(l4[4:])) != len(l4) {
		t.Fatalf("UDP length %d for %d bytes", binary.BigEndian.Uint16(l4[4:]), len(l4))
	}
	ps := refSum(addrs) + uint32(proto) + uint32(len(l4))
	if refSum(append(u16(ps), l4...)) != 0xffff {
		t.Fatalf("transport checksum wrong")
	}
}

// pattern returns n bytes of a recognisable pattern starting at byte k.
func pattern(k, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((k + i) * 7 / 3)
	}
	return b
}

// fatalfer is the part of testing.T verify uses.
type fatalfer interface {
	Helper()
	Fatalf(string, ...any)
}
