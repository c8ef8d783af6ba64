package tunio

import (
	"encoding/binary"
	"fmt"
)

// Header facts used by the offload code.
const (
	protoTCP = 6
	protoUDP = 17

	tcpFlagFIN = 0x01
	tcpFlagSYN = 0x02
	tcpFlagRST = 0x04
	tcpFlagPSH = 0x08
	tcpFlagACK = 0x10
	tcpFlagURG = 0x20
	tcpFlagECE = 0x40
	tcpFlagCWR = 0x80

	tcpChecksumOff = 16 // offset of the TCP checksum
	udpChecksumOff = 6  // offset of the UDP checksum

	// maxPacket is the largest IP packet a superpacket may be.
	maxPacket = 65535
)

// splitter cuts one GSO superpacket (TCP or UDP, IPv4 or IPv6) into
// segments of at most gsoSize payload bytes, like the kernel's software
// segmentation: IPv4 total length, id (incremented per segment) and header
// checksum; IPv6 payload length; TCP sequence number, FIN and PSH only on
// the last segment (CWR only on the first with GSO_ECN), checksum; UDP
// length and checksum. It keeps its position so a superpacket can be
// handed out over several Reads. It is not safe for concurrent use.
type splitter struct {
	pkt     []byte // the superpacket without its virtio header; nil when idle
	udp     bool
	v6      bool
	ecn     bool
	iphLen  int
	hdrLen  int // IP + transport header length
	mss     int
	next    int // offset in pkt of the next segment's payload
	idx     int // index of the next segment
	seq     uint32
	id      uint16
	addrSum uint32 // folded sum of both addresses
	// ipBase and l4Base are the folded sums of the IPv4 header and the
	// transport header without the fields that change per segment (IPv4
	// total length, id and checksum; TCP sequence number, the word with
	// the flags, and checksum; UDP length and checksum). Each segment's
	// checksums are these plus the new fields plus, for the transport
	// checksum, the payload, so the headers just written are never read
	// back: an 8-byte load of bytes written a moment before by narrower
	// stores cannot be forwarded from the store buffer and stalls (perf:
	// over half of the splitting node's checksum time).
	ipBase, l4Base uint32
}

// pending reports whether segments remain to be handed out.
func (s *splitter) pending() bool { return s.pkt != nil }

// clear drops whatever remains of the current superpacket.
func (s *splitter) clear() { s.pkt = nil }

// reset starts splitting pkt (which it keeps, unchanged) described by h.
// The kernel's hdrLen is not trusted (it can cover a whole segment on the
// forwarding path): the header lengths come from the packet itself and must
// agree with csumStart. Any inconsistency is ErrBadVnetHdr.
func (s *splitter) reset(h *virtioHdr, pkt []byte) error {
	s.pkt = nil
	typ := h.gsoType &^ gsoECN
	if len(pkt) < 20 || h.gsoSize == 0 {
		return fmt.Errorf("split: short packet or zero gso size: %w", ErrBadVnetHdr)
	}
	var proto uint8
	switch pkt[0] >> 4 {
	case 4:
		if typ != gsoTCPv4 && typ != gsoUDPL4 {
			return fmt.Errorf("split: gso type %d for IPv4: %w", h.gsoType, ErrBadVnetHdr)
		}
		s.v6, s.iphLen, proto = false, int(pkt[0]&0x0f)*4, pkt[9]
		if s.iphLen < 20 {
			return fmt.Errorf("split: IPv4 header length %d: %w", s.iphLen, ErrBadVnetHdr)
		}
		s.id = binary.BigEndian.Uint16(pkt[4:])
		s.addrSum = sum16(pkt[12:20])
	case 6:
		if typ != gsoTCPv6 && typ != gsoUDPL4 {
			return fmt.Errorf("split: gso type %d for IPv6: %w", h.gsoType, ErrBadVnetHdr)
		}
		if len(pkt) < 40 {
			return fmt.Errorf("split: short IPv6 packet: %w", ErrBadVnetHdr)
		}
		s.v6, s.iphLen, proto = true, 40, pkt[6]
		s.addrSum = sum16(pkt[8:40])
	default:
		return fmt.Errorf("split: IP version %d: %w", pkt[0]>>4, ErrBadVnetHdr)
	}
	if int(h.csumStart) != s.iphLen {
		return fmt.Errorf("split: csum start %d, IP header %d (extension headers?): %w", h.csumStart, s.iphLen, ErrBadVnetHdr)
	}
	s.udp = typ == gsoUDPL4
	switch {
	case s.udp && proto == protoUDP:
		s.hdrLen = s.iphLen + 8
	case !s.udp && proto == protoTCP:
		if len(pkt) < s.iphLen+20 {
			return fmt.Errorf("split: short TCP header: %w", ErrBadVnetHdr)
		}
		s.hdrLen = s.iphLen + int(pkt[s.iphLen+12]>>4)*4
		if s.hdrLen < s.iphLen+20 {
			return fmt.Errorf("split: TCP data offset below 5: %w", ErrBadVnetHdr)
		}
		s.seq = binary.BigEndian.Uint32(pkt[s.iphLen+4:])
	default:
		return fmt.Errorf("split: protocol %d for gso type %d: %w", proto, h.gsoType, ErrBadVnetHdr)
	}
	if len(pkt) <= s.hdrLen || len(pkt) > maxPacket+s.iphLen {
		return fmt.Errorf("split: length %d for headers of %d: %w", len(pkt), s.hdrLen, ErrBadVnetHdr)
	}
	s.pkt, s.ecn, s.mss, s.next, s.idx = pkt, h.gsoType&gsoECN != 0, int(h.gsoSize), s.hdrLen, 0
	if !s.v6 {
		ih := pkt[:s.iphLen]
		s.ipBase = uint32(fold(sum16(ih[0:2]) + sum16(ih[6:10]) + sum16(ih[12:])))
	}
	l4 := pkt[s.iphLen:s.hdrLen]
	if s.udp {
		s.l4Base = sum16(l4[0:4])
	} else {
		s.l4Base = uint32(fold(sum16(l4[0:4]) + sum16(l4[8:12]) + sum16(l4[14:16]) + sum16(l4[18:])))
	}
	return nil
}

// segmentLen is the length of the next segment; only valid when pending.
func (s *splitter) segmentLen() int { return s.hdrLen + min(s.mss, len(s.pkt)-s.next) }

// nextInto writes the next segment to dst and returns its length. If dst is
// too short it returns ErrSegmentTooLarge and drops the rest of the
// superpacket; callers must then clear their view of it as well.
func (s *splitter) nextInto(dst []byte) (int, error) {
	if s.pkt == nil {
		return 0, nil
	}
	pkt, hl, ihl := s.pkt, s.hdrLen, s.iphLen
	payload := min(s.mss, len(pkt)-s.next)
	total := hl + payload
	if total > len(dst) {
		s.pkt = nil
		return 0, fmt.Errorf("split: segment of %d bytes, buffer of %d: %w", total, len(dst), ErrSegmentTooLarge)
	}
	copy(dst[:hl], pkt[:hl])
	// The payload is copied and summed in one pass (copySum16).
	paySum := copySum16(dst[hl:total], pkt[s.next:s.next+payload])
	last := s.next+payload == len(pkt)
	if s.v6 {
		binary.BigEndian.PutUint16(dst[4:], uint16(total-40))
	} else {
		id := s.id + uint16(s.idx)
		binary.BigEndian.PutUint16(dst[2:], uint16(total))
		binary.BigEndian.PutUint16(dst[4:], id)
		binary.BigEndian.PutUint16(dst[10:], ^fold(s.ipBase+uint32(total)+uint32(id)))
	}
	l4 := dst[ihl:total]
	csumAt := tcpChecksumOff
	proto := uint8(protoTCP)
	var changed uint32 // the sum of the fields written below
	if s.udp {
		csumAt, proto = udpChecksumOff, protoUDP
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		changed = uint32(len(l4))
	} else {
		seq := s.seq + uint32(s.next-hl)
		binary.BigEndian.PutUint32(l4[4:], seq)
		flags := pkt[ihl+13]
		if !last {
			flags &^= tcpFlagFIN | tcpFlagPSH
		}
		if s.ecn && s.idx > 0 {
			flags &^= tcpFlagCWR
		}
		l4[13] = flags
		changed = seq>>16 + seq&0xffff + uint32(pkt[ihl+12])<<8 + uint32(flags)
	}
	sum := pseudoSumFrom(s.addrSum, proto, len(l4)) + s.l4Base + changed + paySum
	binary.BigEndian.PutUint16(l4[csumAt:], finishChecksum(sum))
	s.next += payload
	s.idx++
	if last {
		s.pkt = nil
	}
	return total, nil
}

// pseudoSumFrom is pseudoSum with the address sum already taken.
func pseudoSumFrom(addrSum uint32, proto uint8, length int) uint32 {
	return uint32(fold(addrSum + uint32(proto) + uint32(length>>16) + uint32(length&0xffff)))
}

// completeChecksum finishes a packet the kernel marked NEEDS_CSUM without
// GSO: the field at start+off holds the pseudo-header sum, and the checksum
// over pkt[start:] (that field included) goes there.
func completeChecksum(pkt []byte, start, off int) error {
	if start >= len(pkt) || start+off+2 > len(pkt) {
		return fmt.Errorf("checksum: start %d offset %d in %d bytes: %w", start, off, len(pkt), ErrBadVnetHdr)
	}
	binary.BigEndian.PutUint16(pkt[start+off:], finishChecksum(sum16(pkt[start:])))
	return nil
}
