package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Limits of the node-info message.
const (
	// MaxPeers is how many peers VpnCloud puts in one node info (it picks
	// 20 at random when it has more); AppendNodeInfo writes the first
	// MaxPeers of NodeInfo.Peers, so the caller chooses which.
	MaxPeers = 20
	// MaxAddrsPerFamily is how many IPv4 and how many IPv6 addresses fit in
	// an address list: the flag byte has 3 bits for each count. VpnCloud
	// (and AppendNodeInfo) keep the first 7 of each family.
	MaxAddrsPerFamily = 7
	// MaxDecodePeers bounds the peers DecodeNodeInfo accepts in one
	// message. VpnCloud sends at most MaxPeers; it accepts any number, but
	// a one-byte peer entry would let a 64 KiB datagram cost megabytes.
	MaxDecodePeers = 256
	// MaxClaims bounds the claims DecodeNodeInfo accepts and AppendNodeInfo
	// writes (VpnCloud has no limit but its configuration's size).
	MaxClaims = 1024
)

// Node-info part ids (VpnCloud's NodeInfo::PART_*).
const (
	partEnd         = 0
	partPeers       = 1
	partClaims      = 2
	partPeerTimeout = 3
	partNodeID      = 4
	partAddrs       = 5
)

// Flag bits of an address list / peer entry.
const (
	flagHasNodeID = 0x80
	flagV4Mask    = 0x07
	flagV6Mask    = 0x38
	flagV6Shift   = 3
)

// PeerInfo is one entry of a node info's peer list: a peer the sender is
// connected to, with the addresses it knows the peer by.
type PeerInfo struct {
	NodeID    NodeID
	HasNodeID bool // VpnCloud 2.3.0 always sends the node id
	Addrs     []netip.AddrPort
}

// NodeInfo is VpnCloud's node-info message (type 1, also the handshake
// payload): the sender's node id, its peers, its claims, the peer timeout it
// wants others to use for it, and its own addresses.
//
// Addresses go on the wire as IPv4 (Is4) or as 16-byte IPv6 (anything else,
// IPv4-mapped included; VpnCloud 2.3.0 itself sends its addresses
// IPv4-mapped). Decoding gives the IPv6 addresses of a list first, then the
// IPv4 ones, as they are on the wire.
type NodeInfo struct {
	NodeID         NodeID
	Peers          []PeerInfo
	Claims         []Range
	PeerTimeout    uint16
	HasPeerTimeout bool // VpnCloud 2.3.0 always sends it
	Addrs          []netip.AddrPort
}

// AppendNodeInfo appends the node-info body of ni (without the type byte)
// to dst, in VpnCloud 2.3.0's part order: node id, peers, claims, peer
// timeout (only when HasPeerTimeout), own addresses, end. It writes at most
// MaxPeers peers, MaxClaims claims and MaxAddrsPerFamily addresses of each
// family per list (the first ones); invalid AddrPorts are skipped.
func AppendNodeInfo(dst []byte, ni *NodeInfo) []byte {
	var start int
	dst, start = beginPart(dst, partNodeID)
	dst = append(dst, ni.NodeID[:]...)
	dst = endPart(dst, start)

	dst, start = beginPart(dst, partPeers)
	for i := range ni.Peers[:min(len(ni.Peers), MaxPeers)] {
		p := &ni.Peers[i]
		dst = appendAddrList(dst, p.Addrs, p.HasNodeID, &p.NodeID)
	}
	dst = endPart(dst, start)

	dst, start = beginPart(dst, partClaims)
	for _, c := range ni.Claims[:min(len(ni.Claims), MaxClaims)] {
		dst = c.AppendTo(dst)
	}
	dst = endPart(dst, start)

	if ni.HasPeerTimeout {
		dst, start = beginPart(dst, partPeerTimeout)
		dst = binary.BigEndian.AppendUint16(dst, ni.PeerTimeout)
		dst = endPart(dst, start)
	}

	dst, start = beginPart(dst, partAddrs)
	dst = appendAddrList(dst, ni.Addrs, false, nil)
	dst = endPart(dst, start)

	return append(dst, partEnd)
}

// beginPart appends a part header with a zero length and returns where the
// part's content starts.
func beginPart(dst []byte, part byte) ([]byte, int) {
	dst = append(dst, part, 0, 0)
	return dst, len(dst)
}

// endPart fills in the length of the part whose content starts at start.
// Every part AppendNodeInfo writes is far below 64 KiB by its limits.
func endPart(dst []byte, start int) []byte {
	binary.BigEndian.PutUint16(dst[start-2:start], uint16(len(dst)-start))
	return dst
}

// appendAddrList appends one flag byte (the address counts, and 0x80 when
// hasID), the node id when hasID, then up to 7 IPv6 and up to 7
// IPv4 addresses with ports, IPv6 first.
func appendAddrList(dst []byte, addrs []netip.AddrPort, hasID bool, id *NodeID) []byte {
	var flags byte
	if hasID {
		flags = flagHasNodeID
	}
	var n4, n6 int
	for _, a := range addrs {
		switch {
		case !a.IsValid():
		case a.Addr().Is4():
			n4++
		default:
			n6++
		}
	}
	n4 = min(n4, MaxAddrsPerFamily)
	n6 = min(n6, MaxAddrsPerFamily)
	dst = append(dst, flags|byte(n6)<<flagV6Shift|byte(n4))
	if hasID {
		dst = append(dst, id[:]...)
	}
	left := n6
	for _, a := range addrs {
		if left == 0 {
			break
		}
		if a.IsValid() && !a.Addr().Is4() {
			ip := a.Addr().As16()
			dst = append(dst, ip[:]...)
			dst = binary.BigEndian.AppendUint16(dst, a.Port())
			left--
		}
	}
	left = n4
	for _, a := range addrs {
		if left == 0 {
			break
		}
		if a.IsValid() && a.Addr().Is4() {
			ip := a.Addr().As4()
			dst = append(dst, ip[:]...)
			dst = binary.BigEndian.AppendUint16(dst, a.Port())
			left--
		}
	}
	return dst
}

// DecodeNodeInfo decodes a node-info body (without the type byte) exactly
// as VpnCloud 2.3.0's NodeInfo::decode does:
//
//   - parts are read until the end part (0); input after it is ignored, and
//     input that ends before it is ErrTruncated;
//   - a part repeated replaces the earlier one; unknown parts are skipped;
//   - the peer and claim parts are read entry by entry to their exact end,
//     an entry crossing the end is ErrTruncated;
//   - the fixed-size parts (node id, peer timeout, own addresses) read what
//     they need from the start of their part and the next part header is
//     read right after it, not after the declared part length (VpnCloud's
//     reader does this; VpnCloud never writes longer parts);
//   - a message without the node-id part is ErrNoNodeID.
//
// Beyond VpnCloud, more than MaxDecodePeers peers (ErrTooManyPeers) or
// MaxClaims claims (ErrTooManyClaims) are rejected.
func DecodeNodeInfo(b []byte) (*NodeInfo, error) {
	ni := &NodeInfo{}
	hasID := false
	pos := 0
	for {
		if pos >= len(b) {
			return nil, fmt.Errorf("wire.DecodeNodeInfo: part header: %w", ErrTruncated)
		}
		part := b[pos]
		pos++
		if part == partEnd {
			break
		}
		if len(b)-pos < 2 {
			return nil, fmt.Errorf("wire.DecodeNodeInfo: part %d length: %w", part, ErrTruncated)
		}
		plen := int(binary.BigEndian.Uint16(b[pos:]))
		pos += 2
		// The part's window: the declared length, cut off by the input.
		win := b[pos:min(pos+plen, len(b))]
		var (
			n   int
			err error
		)
		switch part {
		case partPeers:
			if len(win) < plen {
				return nil, fmt.Errorf("wire.DecodeNodeInfo: peers: %w", ErrTruncated)
			}
			ni.Peers, err = decodePeers(win)
			n = plen
		case partClaims:
			if len(win) < plen {
				return nil, fmt.Errorf("wire.DecodeNodeInfo: claims: %w", ErrTruncated)
			}
			ni.Claims, err = decodeClaims(win)
			n = plen
		case partPeerTimeout:
			if len(win) < 2 {
				return nil, fmt.Errorf("wire.DecodeNodeInfo: peer timeout: %w", ErrTruncated)
			}
			ni.PeerTimeout, ni.HasPeerTimeout = binary.BigEndian.Uint16(win), true
			n = 2
		case partNodeID:
			if len(win) < NodeIDLen {
				return nil, fmt.Errorf("wire.DecodeNodeInfo: node id: %w", ErrTruncated)
			}
			copy(ni.NodeID[:], win)
			hasID = true
			n = NodeIDLen
		case partAddrs:
			if len(win) < 1 {
				return nil, fmt.Errorf("wire.DecodeNodeInfo: addresses: %w", ErrTruncated)
			}
			ni.Addrs, n, err = decodeAddrList(win[1:], win[0])
			n++
		default:
			if len(win) < plen {
				return nil, fmt.Errorf("wire.DecodeNodeInfo: part %d: %w", part, ErrTruncated)
			}
			n = plen
		}
		if err != nil {
			return nil, fmt.Errorf("wire.DecodeNodeInfo: %w", err)
		}
		pos += n
	}
	if !hasID {
		return nil, fmt.Errorf("wire.DecodeNodeInfo: %w", ErrNoNodeID)
	}
	return ni, nil
}

// decodeAddrList reads the addresses counted by flags from the start of b:
// IPv6 ones first, then IPv4 ones. It returns them and the bytes taken.
func decodeAddrList(b []byte, flags byte) ([]netip.AddrPort, int, error) {
	n4 := int(flags & flagV4Mask)
	n6 := int(flags&flagV6Mask) >> flagV6Shift
	need := n6*18 + n4*6
	if len(b) < need {
		return nil, 0, fmt.Errorf("address list: %w", ErrTruncated)
	}
	if n4+n6 == 0 {
		return nil, 0, nil
	}
	addrs := make([]netip.AddrPort, 0, n4+n6)
	pos := 0
	for range n6 {
		ip := netip.AddrFrom16([16]byte(b[pos : pos+16]))
		addrs = append(addrs, netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[pos+16:])))
		pos += 18
	}
	for range n4 {
		ip := netip.AddrFrom4([4]byte(b[pos : pos+4]))
		addrs = append(addrs, netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[pos+4:])))
		pos += 6
	}
	return addrs, pos, nil
}

// decodePeers reads peer entries until b is used up.
func decodePeers(b []byte) ([]PeerInfo, error) {
	var peers []PeerInfo
	for pos := 0; pos < len(b); {
		if len(peers) == MaxDecodePeers {
			return nil, fmt.Errorf("peers: %w", ErrTooManyPeers)
		}
		flags := b[pos]
		pos++
		var p PeerInfo
		if flags&flagHasNodeID != 0 {
			if len(b)-pos < NodeIDLen {
				return nil, fmt.Errorf("peer node id: %w", ErrTruncated)
			}
			copy(p.NodeID[:], b[pos:])
			p.HasNodeID = true
			pos += NodeIDLen
		}
		addrs, n, err := decodeAddrList(b[pos:], flags)
		if err != nil {
			return nil, fmt.Errorf("peer: %w", err)
		}
		p.Addrs = addrs
		pos += n
		peers = append(peers, p)
	}
	return peers, nil
}

// decodeClaims reads ranges until b is used up.
func decodeClaims(b []byte) ([]Range, error) {
	var claims []Range
	for pos := 0; pos < len(b); {
		if len(claims) == MaxClaims {
			return nil, fmt.Errorf("claims: %w", ErrTooManyClaims)
		}
		r, n, err := DecodeRange(b[pos:])
		if err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
		claims = append(claims, r)
		pos += n
	}
	return claims, nil
}
