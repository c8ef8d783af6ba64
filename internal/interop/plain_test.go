package interop

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/peercloud/peercloud/internal/pcap"
	"github.com/peercloud/peercloud/wire"
)

const fixtures = "../../../shared/interop"

var (
	underA  = netip.MustParseAddrPort("10.99.7.1:3210")
	underB  = netip.MustParseAddrPort("10.99.7.2:3210")
	tunnelA = netip.MustParseAddr("10.95.7.1")
	tunnelB = netip.MustParseAddr("10.95.7.2")
)

func readCapture(t *testing.T, name string) []pcap.Packet {
	t.Helper()
	ps, err := pcap.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// initPayload returns the payload field (type 5) of an init message packet
// and its stage, checking the framing.
func initParts(t *testing.T, pkt []byte) (stage byte, fields map[uint8][]byte) {
	t.Helper()
	f, err := ParseFrame(pkt)
	if err != nil || !f.Handshake {
		t.Fatalf("not a handshake: %v", err)
	}
	list, _, sig, err := SplitInit(f.Init)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 64 {
		t.Errorf("signature of %d bytes", len(sig))
	}
	fields = map[uint8][]byte{}
	for _, fl := range list {
		fields[fl.Type] = fl.Value
	}
	if len(fields[1]) != 1 {
		t.Fatalf("stage field %x", fields[1])
	}
	return fields[1][0], fields
}

// checkICMP checks an 84-byte IPv4 ICMP echo (request from A or reply from
// B) and returns its id and sequence number.
func checkICMP(t *testing.T, ip []byte, src, dst netip.Addr, icmpType byte) (id, seq uint16) {
	t.Helper()
	if len(ip) != 84 || ip[0] != 0x45 || binary.BigEndian.Uint16(ip[2:]) != 84 || ip[9] != 1 {
		t.Fatalf("not an 84-byte IPv4 ICMP packet: % x", ip[:min(len(ip), 20)])
	}
	if netip.AddrFrom4([4]byte(ip[12:16])) != src || netip.AddrFrom4([4]byte(ip[16:20])) != dst {
		t.Errorf("ICMP %v -> %v, want %v -> %v", ip[12:16], ip[16:20], src, dst)
	}
	if checksum(ip[:20]) != 0 || checksum(ip[20:]) != 0 {
		t.Errorf("bad IP or ICMP checksum")
	}
	if ip[20] != icmpType || ip[21] != 0 {
		t.Errorf("ICMP type %d code %d, want %d", ip[20], ip[21], icmpType)
	}
	return binary.BigEndian.Uint16(ip[24:]), binary.BigEndian.Uint16(ip[26:])
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func claim(ip netip.Addr) []wire.Range {
	return []wire.Range{{Base: wire.AddressFromIP(ip), PrefixLen: 32}}
}

// mapped is how VpnCloud 2.3.0 sends its IPv4 addresses: IPv4-mapped IPv6.
func mapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
}

func TestPlainCapture(t *testing.T) {
	ps := readCapture(t, "vpncloud-2.3.0-plain.pcap")
	wantSizes := []int{145, 207, 164, 95, 95, 85, 85, 85, 85, 85, 85, 1}
	if len(ps) != len(wantSizes) {
		t.Fatalf("%d packets, want %d", len(ps), len(wantSizes))
	}
	for i, p := range ps {
		if len(p.Payload) != wantSizes[i] {
			t.Errorf("packet %d: %d bytes, want %d", i, len(p.Payload), wantSizes[i])
		}
	}

	// Handshake: ping A->B (no payload), pong B->A and peng A->B with the
	// node info as payload, unencrypted since both sides chose plain.
	var nodeA, nodeB *wire.NodeInfo
	for i, want := range []struct {
		stage    byte
		src, dst netip.AddrPort
	}{{1, underA, underB}, {2, underB, underA}, {3, underA, underB}} {
		p := ps[i]
		if p.Src != want.src || p.Dst != want.dst {
			t.Errorf("handshake %d: %v -> %v", i, p.Src, p.Dst)
		}
		stage, fields := initParts(t, p.Payload)
		if stage != want.stage {
			t.Errorf("packet %d: stage %d, want %d", i, stage, want.stage)
		}
		payload, has := fields[5]
		if stage == 1 {
			if has {
				t.Error("ping with payload")
			}
			continue
		}
		ni, err := wire.DecodeNodeInfo(payload)
		if err != nil {
			t.Fatalf("stage %d payload: %v", stage, err)
		}
		if !bytes.Equal(wire.AppendNodeInfo(nil, ni), payload) {
			t.Errorf("stage %d payload does not re-encode to VpnCloud's bytes", stage)
		}
		if stage == 2 {
			nodeB = ni
		} else {
			nodeA = ni
		}
	}
	for _, c := range []struct {
		ni    *wire.NodeInfo
		tun   netip.Addr
		under netip.AddrPort
	}{{nodeA, tunnelA, underA}, {nodeB, tunnelB, underB}} {
		want := &wire.NodeInfo{
			NodeID: c.ni.NodeID, Claims: claim(c.tun), PeerTimeout: 300, HasPeerTimeout: true,
			Addrs: []netip.AddrPort{mapped(c.under)},
		}
		if !reflect.DeepEqual(c.ni, want) {
			t.Errorf("handshake node info\n %+v\nwant\n %+v", c.ni, want)
		}
	}
	if nodeA.NodeID == nodeB.NodeID {
		t.Error("A and B share a node id")
	}

	// Node info messages: B's then A's, each listing the other as peer.
	for i, c := range []struct {
		src, dst   netip.AddrPort
		self, peer *wire.NodeInfo
		tun        netip.Addr
	}{{underB, underA, nodeB, nodeA, tunnelB}, {underA, underB, nodeA, nodeB, tunnelA}} {
		p := ps[3+i]
		if p.Src != c.src || p.Dst != c.dst || p.Payload[0] != wire.TypeNodeInfo {
			t.Fatalf("packet %d: %v -> %v type %d", 3+i, p.Src, p.Dst, p.Payload[0])
		}
		ni, err := wire.DecodeNodeInfo(p.Payload[1:])
		if err != nil {
			t.Fatal(err)
		}
		want := &wire.NodeInfo{
			NodeID: c.self.NodeID,
			Peers: []wire.PeerInfo{{NodeID: c.peer.NodeID, HasNodeID: true,
				Addrs: []netip.AddrPort{mapped(c.dst)}}},
			Claims: claim(c.tun), PeerTimeout: 300, HasPeerTimeout: true,
			Addrs: []netip.AddrPort{mapped(c.src)},
		}
		if !reflect.DeepEqual(ni, want) {
			t.Errorf("node info %d\n %+v\nwant\n %+v", i, ni, want)
		}
		if !bytes.Equal(wire.AppendNodeInfo([]byte{wire.TypeNodeInfo}, ni), p.Payload) {
			t.Errorf("node info %d does not re-encode to VpnCloud's bytes", i)
		}
	}

	// Data: three echo requests A->B, each answered B->A.
	for i := range 3 {
		req, rep := ps[5+2*i], ps[6+2*i]
		if req.Src != underA || rep.Src != underB || req.Payload[0] != wire.TypeData || rep.Payload[0] != wire.TypeData {
			t.Fatalf("data pair %d: %v type %d, %v type %d", i, req.Src, req.Payload[0], rep.Src, rep.Payload[0])
		}
		id1, seq1 := checkICMP(t, req.Payload[1:], tunnelA, tunnelB, 8)
		id2, seq2 := checkICMP(t, rep.Payload[1:], tunnelB, tunnelA, 0)
		if id1 != id2 || seq1 != seq2 || seq1 != uint16(i+1) {
			t.Errorf("pair %d: request %d/%d, reply %d/%d", i, id1, seq1, id2, seq2)
		}
	}

	// Close from A.
	if last := ps[11]; last.Src != underA || !bytes.Equal(last.Payload, []byte{wire.TypeClose}) {
		t.Errorf("last packet %v % x, want A's close", last.Src, last.Payload)
	}
}
