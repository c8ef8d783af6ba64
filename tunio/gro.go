package tunio

import (
	"bytes"
	"encoding/binary"
)

// maxRunSegments bounds how many packets one superpacket gathers (and so
// the iovecs of one writev); the kernel's own GRO stops at 64 as well.
const maxRunSegments = 64

// Kinds of coalescing candidates.
const (
	kindNone uint8 = iota
	kindTCP4
	kindTCP6
	kindUDP4
	kindUDP6
)

// segInfo describes a packet that may join a superpacket.
type segInfo struct {
	kind    uint8
	iphLen  int
	hdrLen  int // IP + transport header
	payload int
	seq     uint32 // TCP only
	flags   uint8  // TCP only
}

// parseSegment classifies pkt for coalescing. It accepts IPv4 without
// options or fragmentation and IPv6 without extension headers, whose length
// fields match len(pkt), carrying TCP (only ACK, optionally PSH and ECE) or
// UDP (if udp) with at least one payload byte. Anything else is kindNone
// and is written on its own. It never panics.
func parseSegment(pkt []byte, udp bool) segInfo {
	var si segInfo
	var proto uint8
	switch {
	case len(pkt) >= 20 && pkt[0] == 0x45:
		if int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) || binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
			return si // length mismatch, MF or fragment offset
		}
		si.iphLen, proto = 20, pkt[9]
	case len(pkt) >= 40 && pkt[0]>>4 == 6:
		if int(binary.BigEndian.Uint16(pkt[4:]))+40 != len(pkt) {
			return si
		}
		si.iphLen, proto = 40, pkt[6]
	default:
		return si
	}
	v6 := si.iphLen == 40
	switch proto {
	case protoTCP:
		if len(pkt) < si.iphLen+20 {
			return si
		}
		th := pkt[si.iphLen:]
		si.hdrLen = si.iphLen + int(th[12]>>4)*4
		si.flags = th[13]
		if si.hdrLen < si.iphLen+20 || si.hdrLen >= len(pkt) ||
			si.flags&^(tcpFlagPSH|tcpFlagECE) != tcpFlagACK {
			return si
		}
		si.seq = binary.BigEndian.Uint32(th[4:])
		si.kind = kindTCP4
		if v6 {
			si.kind = kindTCP6
		}
	case protoUDP:
		si.hdrLen = si.iphLen + 8
		if !udp || si.hdrLen >= len(pkt) || int(binary.BigEndian.Uint16(pkt[si.iphLen+4:])) != len(pkt)-si.iphLen {
			return si
		}
		si.kind = kindUDP4
		if v6 {
			si.kind = kindUDP6
		}
	default:
		return si
	}
	si.payload = len(pkt) - si.hdrLen
	return si
}

// sameFlow reports whether b (described by bi) may follow a in a
// superpacket headed by a (described by ai): same kind and header layout,
// equal IP fields other than length, id and checksum, same ports; for TCP
// also the same ack number and options and flags equal but for PSH.
func sameFlow(a []byte, ai segInfo, b []byte, bi segInfo) bool {
	if ai.kind != bi.kind || ai.hdrLen != bi.hdrLen {
		return false
	}
	if ai.iphLen == 20 {
		// version/IHL, TOS; DF; TTL, protocol; addresses
		if a[1] != b[1] || a[6] != b[6] || a[8] != b[8] || !bytes.Equal(a[12:20], b[12:20]) {
			return false
		}
	} else {
		// version, traffic class, flow label; next header, hop limit; addresses
		if !bytes.Equal(a[0:4], b[0:4]) || a[6] != b[6] || a[7] != b[7] || !bytes.Equal(a[8:40], b[8:40]) {
			return false
		}
	}
	ih := ai.iphLen
	if !bytes.Equal(a[ih:ih+4], b[ih:ih+4]) { // ports
		return false
	}
	if ai.kind == kindUDP4 || ai.kind == kindUDP6 {
		return true
	}
	return bytes.Equal(a[ih+8:ih+12], b[ih+8:ih+12]) && // ack
		ai.flags&^tcpFlagPSH == bi.flags&^tcpFlagPSH &&
		bytes.Equal(a[ih+20:ai.hdrLen], b[ih+20:bi.hdrLen]) // options
}

// checksumOK reports whether the transport checksum of a packet described
// by si verifies. A zero UDP checksum over IPv4 means "none" and passes.
// Coalesced packets get a fresh checksum from the kernel, so a corrupt
// segment must never be merged.
func checksumOK(pkt []byte, si segInfo) bool {
	l4 := pkt[si.iphLen:]
	proto := uint8(protoTCP)
	if si.kind == kindUDP4 || si.kind == kindUDP6 {
		proto = protoUDP
		if si.kind == kindUDP4 && l4[6] == 0 && l4[7] == 0 {
			return true
		}
	}
	addrs := pkt[12:20]
	if si.iphLen == 40 {
		addrs = pkt[8:40]
	}
	return fold(pseudoSum(addrs, proto, len(l4))+sum16(l4)) == 0xffff
}

// findRun returns the end (exclusive) of the run of packets starting at
// bufs[i][offset:] that can form one superpacket: consecutive segments of
// one flow with valid checksums, contiguous TCP sequence numbers, equal
// payload sizes except a shorter (or equal) last one, PSH only on the last,
// at most maxRunSegments packets and 64 KiB. A run of one means "write as
// is". bufs[j] must all be at least offset long. The first trusted
// packets from i have had their checksums verified already (a run held
// back by an earlier call, see queue.WriteRuns) and are not summed again.
//
// open reports a TCP run that only ended because bufs did: a later
// segment of the same flow could still extend it (it has room for another
// segment and did not end in a short or PSH segment). UDP runs are never
// open: held back, a run of small datagrams reaches the application in
// larger bursts, and the harness's unthrottled 64-byte rate was 8–12 %
// lower (side by side, five rounds) with no gain at 1 % loss.
func findRun(bufs [][]byte, offset, i, trusted int, tcp, udp bool) (end int, first segInfo, total int, open bool) {
	a := bufs[i][offset:]
	first = parseSegment(a, udp)
	isTCP := first.kind == kindTCP4 || first.kind == kindTCP6
	if first.kind == kindNone || (isTCP && !tcp) || (isTCP && first.flags&tcpFlagPSH != 0) {
		return i + 1, first, first.payload, false
	}
	// The IPv4 total length or the IPv6 payload length must fit 16 bits.
	limit := maxPacket
	if first.iphLen == 40 {
		limit += 40
	}
	total = first.payload
	if i+1 >= len(bufs) {
		return i + 1, first, total, isTCP && first.hdrLen+2*total <= limit
	}
	seq := first.seq + uint32(first.payload)
	checked := trusted > 0
	j := i + 1
	for ; j < len(bufs) && j-i < maxRunSegments; j++ {
		b := bufs[j][offset:]
		bi := parseSegment(b, udp)
		if bi.payload > first.payload || !sameFlow(a, first, b, bi) ||
			(isTCP && bi.seq != seq) ||
			first.hdrLen+total+bi.payload > limit {
			return j, first, total, false
		}
		if !checked {
			if !checksumOK(a, first) {
				return i + 1, first, first.payload, false
			}
			checked = true
		}
		if j-i >= trusted && !checksumOK(b, bi) {
			return j, first, total, false
		}
		total += bi.payload
		seq += uint32(bi.payload)
		if bi.payload < first.payload || bi.flags&tcpFlagPSH != 0 {
			return j + 1, first, total, false
		}
	}
	open = j == len(bufs) && j-i < maxRunSegments && first.hdrLen+total+first.payload <= limit && isTCP
	return j, first, total, open
}

// finishRun turns the first packet of a run (a, described by si, followed
// by segments carrying total payload bytes in all, the last one's TCP flags
// lastFlags) into the header of a superpacket: IPv4 total length and header
// checksum or IPv6 payload length, UDP length, PSH from the last segment,
// and the pseudo-header sum in the transport checksum field as
// NEEDS_CSUM wants. It returns the virtio header to send in front of it.
func finishRun(a []byte, si segInfo, total int, lastFlags uint8) virtioHdr {
	ih := si.iphLen
	l4len := si.hdrLen - ih + total
	h := virtioHdr{
		flags:     virtioFlagNeedsCsum,
		hdrLen:    uint16(si.hdrLen),
		gsoSize:   uint16(si.payload),
		csumStart: uint16(ih),
	}
	var addrs []byte
	if ih == 40 {
		binary.BigEndian.PutUint16(a[4:], uint16(l4len))
		addrs = a[8:40]
	} else {
		binary.BigEndian.PutUint16(a[2:], uint16(ih+l4len))
		a[10], a[11] = 0, 0
		binary.BigEndian.PutUint16(a[10:], ^fold(sum16(a[:ih])))
		addrs = a[12:20]
	}
	proto := uint8(protoTCP)
	switch si.kind {
	case kindTCP4:
		h.gsoType, h.csumOffset = gsoTCPv4, tcpChecksumOff
	case kindTCP6:
		h.gsoType, h.csumOffset = gsoTCPv6, tcpChecksumOff
	default:
		h.gsoType, h.csumOffset, proto = gsoUDPL4, udpChecksumOff, protoUDP
		binary.BigEndian.PutUint16(a[ih+4:], uint16(l4len))
	}
	if proto == protoTCP {
		a[ih+13] |= lastFlags & tcpFlagPSH
	}
	binary.BigEndian.PutUint16(a[ih+int(h.csumOffset):], fold(pseudoSum(addrs, proto, l4len)))
	return h
}
