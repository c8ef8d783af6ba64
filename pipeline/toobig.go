package pipeline

import (
	"encoding/binary"
	"time"
)

// Packets too big for a relayed path.
//
// A relayed datagram is relayOverhead (41) bytes longer than a direct one,
// so a packet that fills the device MTU does not fit the underlay when it
// goes through a relay: the kernel would fragment every such datagram on
// both hops (about a tenth of the throughput in a measurement). The device
// reader answers such packets the way a router answers a packet larger
// than its next hop: an IPv4 packet with DF set gets an ICMP "fragmentation
// needed" and an IPv6 packet an ICMPv6 "packet too big", both naming
// Config.RelayMTU, written back into the device. The sender's kernel then
// lowers the path MTU towards that destination only (TCP shrinks its
// segments), and direct peers keep the full MTU. Packets without DF are
// sent as they are (and fragmented).

// tooBigInterval spaces the ICMP errors the device reader generates.
const tooBigInterval = int64(time.Millisecond)

// minIPv6MTU is IPv6's minimum link MTU: a "packet too big" may not ask
// for less, and must itself fit (it quotes as much of the packet as does).
// IPv4's "fragmentation needed" quotes the header and 8 bytes, all TCP and
// UDP need to find the socket.
const minIPv6MTU = 1280

// tooBig handles pkt, a device packet for a relayed peer larger than
// RelayMTU: it returns true when the packet is dropped (DF or IPv6; an ICMP
// error goes back into the device, at most one per tooBigInterval), false
// when it may be sent anyway.
func (p *Pipeline) tooBig(pkt []byte) bool {
	mtu := p.cfg.RelayMTU
	var icmp []byte
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4:
		ihl := int(pkt[0]&0x0f) * 4
		if pkt[6]&0x40 == 0 || ihl < 20 || len(pkt) < ihl {
			return false // may be fragmented
		}
		if pkt[9] == 1 && (len(pkt) < ihl+1 || (pkt[ihl] != 0 && pkt[ihl] != 8)) {
			p.ctr.DropTooBig.Add(1)
			return true // never an ICMP error about an ICMP error
		}
		icmp = p.tooBigBuf[:0]
		icmp = appendFragNeeded(icmp, pkt[:min(len(pkt), ihl+8)], mtu)
	case len(pkt) >= 40 && pkt[0]>>4 == 6:
		if mtu < minIPv6MTU {
			return false // nothing smaller than 1280 can be asked for
		}
		if pkt[6] == 58 && len(pkt) > 40 && pkt[40] < 128 {
			p.ctr.DropTooBig.Add(1)
			return true // an ICMPv6 error (types below 128)
		}
		icmp = p.tooBigBuf[:0]
		icmp = appendPacketTooBig(icmp, pkt[:min(len(pkt), minIPv6MTU-40-8)], mtu)
	default:
		return false
	}
	p.ctr.DropTooBig.Add(1)
	now := time.Now().UnixNano()
	if next := p.tooBigNext.Load(); now < next || !p.tooBigNext.CompareAndSwap(next, now+tooBigInterval) {
		return true
	}
	p.in.writeMu.Lock() // the device writer's lock: Write is not safe with itself
	p.tooBigOut[0] = icmp
	if n, _ := p.dev.Write(p.tooBigOut, devRoom); n == 1 {
		p.ctr.TooBigSent.Add(1)
	}
	p.tooBigOut[0] = nil
	p.in.unlock()
	return true
}

// appendFragNeeded appends, after devRoom bytes of headroom, an IPv4 ICMP
// "fragmentation needed" (type 3 code 4) from quote's destination to its
// source, quoting quote (the offending header and 8 payload bytes).
func appendFragNeeded(dst, quote []byte, mtu int) []byte {
	dst = append(dst, make([]byte, devRoom)...)
	start := len(dst)
	total := 20 + 8 + len(quote)
	dst = append(dst, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0, 0, 64, 1, 0, 0)
	dst = append(dst, quote[16:20]...) // source: the unreachable destination
	dst = append(dst, quote[12:16]...) // destination: the sender
	binary.BigEndian.PutUint16(dst[start+10:], checksum(dst[start:start+20], 0))
	icmp := len(dst)
	dst = append(dst, 3, 4, 0, 0, 0, 0, byte(mtu>>8), byte(mtu))
	dst = append(dst, quote...)
	binary.BigEndian.PutUint16(dst[icmp+2:], checksum(dst[icmp:], 0))
	return dst
}

// appendPacketTooBig appends, after devRoom bytes of headroom, an ICMPv6
// "packet too big" (type 2) from quote's destination to its source, quoting
// quote.
func appendPacketTooBig(dst, quote []byte, mtu int) []byte {
	dst = append(dst, make([]byte, devRoom)...)
	start := len(dst)
	plen := 8 + len(quote)
	dst = append(dst, 0x60, 0, 0, 0, byte(plen>>8), byte(plen), 58, 64)
	dst = append(dst, quote[24:40]...) // source: the unreachable destination
	dst = append(dst, quote[8:24]...)  // destination: the sender
	icmp := len(dst)
	dst = append(dst, 2, 0, 0, 0, byte(mtu>>24), byte(mtu>>16), byte(mtu>>8), byte(mtu))
	dst = append(dst, quote...)
	// Pseudo-header: addresses, upper-layer length, next header.
	var pseudo uint32
	for i := start + 8; i < start+40; i += 2 {
		pseudo += uint32(dst[i])<<8 | uint32(dst[i+1])
	}
	pseudo += uint32(plen) + 58
	binary.BigEndian.PutUint16(dst[icmp+2:], checksum(dst[icmp:], pseudo))
	return dst
}

// checksum is the Internet checksum of b with initial sum s.
func checksum(b []byte, s uint32) uint16 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
