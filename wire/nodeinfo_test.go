package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// Real node-info bodies sent by VpnCloud 2.3.0 (vpncloud-2.3.0-plain.pcap,
// type byte stripped): B's periodic node info (peer A known) and B's pong
// payload (no peers yet).
const (
	realNodeInfoB = "040010d3ce402640766e7849ebe5344784193201002388b972109f15ea8398900e914aef0cffa4" +
		"00000000000000000000ffff0a6307010c8a020006040a5f070220030002012c050013" +
		"0800000000000000000000ffff0a6307020c8a00"
	realPongPayloadB = "040010d3ce402640766e7849ebe534478419320100000200" +
		"06040a5f070220030002012c0500130800000000000000000000ffff0a6307020c8a00"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nodeID(t testing.TB, s string) NodeID {
	return NodeID(mustHex(t, s))
}

func TestDecodeRealNodeInfo(t *testing.T) {
	body := mustHex(t, realNodeInfoB)
	ni, err := DecodeNodeInfo(body)
	if err != nil {
		t.Fatal(err)
	}
	want := &NodeInfo{
		NodeID: nodeID(t, "d3ce402640766e7849ebe53447841932"),
		Peers: []PeerInfo{{
			NodeID:    nodeID(t, "b972109f15ea8398900e914aef0cffa4"),
			HasNodeID: true,
			Addrs:     []netip.AddrPort{netip.MustParseAddrPort("[::ffff:10.99.7.1]:3210")},
		}},
		Claims:         []Range{{Base: AddressFromIP(netip.MustParseAddr("10.95.7.2")), PrefixLen: 32}},
		PeerTimeout:    300,
		HasPeerTimeout: true,
		Addrs:          []netip.AddrPort{netip.MustParseAddrPort("[::ffff:10.99.7.2]:3210")},
	}
	if !reflect.DeepEqual(ni, want) {
		t.Fatalf("decoded\n %+v\nwant\n %+v", ni, want)
	}
	// Our encoder writes VpnCloud's exact bytes.
	if got := AppendNodeInfo(nil, ni); !bytes.Equal(got, body) {
		t.Errorf("re-encoded\n %x\nwant\n %x", got, body)
	}

	pong := mustHex(t, realPongPayloadB)
	ni, err = DecodeNodeInfo(pong)
	if err != nil {
		t.Fatal(err)
	}
	if len(ni.Peers) != 0 || ni.Peers != nil || len(ni.Claims) != 1 || ni.PeerTimeout != 300 {
		t.Errorf("pong payload = %+v", ni)
	}
	if got := AppendNodeInfo(nil, ni); !bytes.Equal(got, pong) {
		t.Errorf("re-encoded pong payload\n %x\nwant\n %x", got, pong)
	}
}

func sampleNodeInfo() *NodeInfo {
	return &NodeInfo{
		NodeID: NodeID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Peers: []PeerInfo{
			{NodeID: NodeID{0xaa}, HasNodeID: true, Addrs: []netip.AddrPort{
				netip.MustParseAddrPort("[2001:db8::1]:3210"),
				netip.MustParseAddrPort("192.0.2.1:3210"),
			}},
			{Addrs: []netip.AddrPort{netip.MustParseAddrPort("198.51.100.7:1")}},
			{},
		},
		Claims: []Range{
			{Base: AddressFromIP(netip.MustParseAddr("10.1.0.0")), PrefixLen: 16},
			{Base: AddressFromIP(netip.MustParseAddr("fd00::")), PrefixLen: 64},
			{Base: AddressFromMAC([6]byte{1, 2, 3, 4, 5, 6}), PrefixLen: 48},
			{Base: Address{}, PrefixLen: 0},
		},
		PeerTimeout:    1800,
		HasPeerTimeout: true,
		Addrs: []netip.AddrPort{
			netip.MustParseAddrPort("[::1]:65535"),
			netip.MustParseAddrPort("10.0.0.1:3210"),
		},
	}
}

func TestNodeInfoRoundTrip(t *testing.T) {
	for name, ni := range map[string]*NodeInfo{
		"sample":       sampleNodeInfo(),
		"minimal":      {NodeID: NodeID{9}},
		"no timeout":   func() *NodeInfo { n := sampleNodeInfo(); n.HasPeerTimeout, n.PeerTimeout = false, 0; return n }(),
		"zero timeout": {NodeID: NodeID{9}, HasPeerTimeout: true},
	} {
		t.Run(name, func(t *testing.T) {
			b := AppendNodeInfo([]byte{TypeNodeInfo}, ni)
			if b[0] != TypeNodeInfo {
				t.Fatal("AppendNodeInfo overwrote dst")
			}
			got, err := DecodeNodeInfo(b[1:])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, ni) {
				t.Fatalf("round trip\n %+v\nwant\n %+v", got, ni)
			}
		})
	}
}

func TestNodeInfoWireLayout(t *testing.T) {
	ni := &NodeInfo{
		NodeID: NodeID{0x11},
		Peers: []PeerInfo{{Addrs: []netip.AddrPort{
			netip.MustParseAddrPort("1.2.3.4:5"),
			netip.MustParseAddrPort("[::2]:6"),
		}}},
		Claims: []Range{{Base: AddressFromIP(netip.MustParseAddr("10.0.0.0")), PrefixLen: 8}},
	}
	want := "040010" + "11000000000000000000000000000000" +
		"010019" + "09" + "00000000000000000000000000000002" + "0006" + "01020304" + "0005" +
		"020006" + "040a00000008" +
		"050001" + "00" +
		"00"
	if got := hex.EncodeToString(AppendNodeInfo(nil, ni)); got != want {
		t.Errorf("layout\n %s\nwant\n %s", got, want)
	}
}

func TestNodeInfoEncodeLimits(t *testing.T) {
	ni := &NodeInfo{NodeID: NodeID{1}}
	for i := range 25 {
		ni.Peers = append(ni.Peers, PeerInfo{NodeID: NodeID{byte(i)}, HasNodeID: true})
	}
	for i := range 9 {
		ni.Addrs = append(ni.Addrs,
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1),
			netip.AddrPortFrom(netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}), 2),
			netip.AddrPort{}, // invalid: skipped
		)
	}
	for i := range MaxClaims + 5 {
		ni.Claims = append(ni.Claims, Range{Base: AddressFromIP(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})), PrefixLen: 24})
	}
	got, err := DecodeNodeInfo(AppendNodeInfo(nil, ni))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Peers) != MaxPeers || got.Peers[MaxPeers-1].NodeID != (NodeID{MaxPeers - 1}) {
		t.Errorf("peers: %d written, last %v", len(got.Peers), got.Peers[len(got.Peers)-1].NodeID)
	}
	if len(got.Claims) != MaxClaims || got.Claims[MaxClaims-1] != ni.Claims[MaxClaims-1] {
		t.Errorf("claims: %d written", len(got.Claims))
	}
	var want []netip.AddrPort
	for i := range 7 {
		want = append(want, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}), 2))
	}
	for i := range 7 {
		want = append(want, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1))
	}
	if !reflect.DeepEqual(got.Addrs, want) {
		t.Errorf("addrs = %v\nwant %v", got.Addrs, want)
	}
}

func TestDecodeNodeInfoEveryTruncationFails(t *testing.T) {
	for name, body := range map[string][]byte{
		"real":   mustHex(t, realNodeInfoB),
		"pong":   mustHex(t, realPongPayloadB),
		"sample": AppendNodeInfo(nil, sampleNodeInfo()),
	} {
		for n := range len(body) {
			if ni, err := DecodeNodeInfo(body[:n]); err == nil {
				t.Errorf("%s: %d of %d bytes decoded: %+v", name, n, len(body), ni)
			} else if !errors.Is(err, ErrTruncated) {
				t.Errorf("%s: %d of %d bytes: %v, want ErrTruncated", name, n, len(body), err)
			}
		}
	}
}

// hdr builds a part header.
func hdr(part byte, n int) []byte { return []byte{part, byte(n >> 8), byte(n)} }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var id16 = bytes.Repeat([]byte{7}, 16)

func TestDecodeNodeInfoVpnCloudQuirks(t *testing.T) {
	idPart := cat(hdr(partNodeID, 16), id16)
	t.Run("missing node id", func(t *testing.T) {
		if _, err := DecodeNodeInfo(cat(hdr(partPeerTimeout, 2), []byte{0, 1, 0})); !errors.Is(err, ErrNoNodeID) {
			t.Errorf("err = %v", err)
		}
		if _, err := DecodeNodeInfo([]byte{0}); !errors.Is(err, ErrNoNodeID) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := DecodeNodeInfo(nil); !errors.Is(err, ErrTruncated) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("trailing data after end ignored", func(t *testing.T) {
		ni, err := DecodeNodeInfo(cat(idPart, []byte{0, 0xde, 0xad}))
		if err != nil || ni.NodeID != NodeID(id16) {
			t.Errorf("%+v %v", ni, err)
		}
	})
	t.Run("unknown part skipped", func(t *testing.T) {
		ni, err := DecodeNodeInfo(cat(hdr(0x42, 3), []byte{1, 2, 3}, idPart, hdr(0x99, 0), []byte{0}))
		if err != nil || ni.NodeID != NodeID(id16) {
			t.Errorf("%+v %v", ni, err)
		}
		if _, err := DecodeNodeInfo(cat(idPart, hdr(0x42, 3), []byte{1, 2})); !errors.Is(err, ErrTruncated) {
			t.Errorf("short unknown part: %v", err)
		}
	})
	t.Run("repeated part replaces", func(t *testing.T) {
		ni, err := DecodeNodeInfo(cat(idPart, hdr(partPeerTimeout, 2), []byte{0, 5}, hdr(partPeerTimeout, 2), []byte{0, 6}, []byte{0}))
		if err != nil || ni.PeerTimeout != 6 {
			t.Errorf("%+v %v", ni, err)
		}
	})
	t.Run("fixed part longer than needed: rest read as parts", func(t *testing.T) {
		// Node-id part declares 19 bytes; VpnCloud reads 16 and then parses
		// the remaining 3 as the next part header: a peer timeout part...
		msg := cat(hdr(partNodeID, 19), id16, hdr(partPeerTimeout, 2), []byte{0x01, 0x2c, 0})
		ni, err := DecodeNodeInfo(msg)
		if err != nil || !ni.HasPeerTimeout || ni.PeerTimeout != 300 {
			t.Errorf("%+v %v", ni, err)
		}
		// ...and the declared length may even run past the input.
		ni, err = DecodeNodeInfo(cat(hdr(partNodeID, 500), id16, []byte{0}))
		if err != nil || ni.NodeID != NodeID(id16) {
			t.Errorf("%+v %v", ni, err)
		}
		// The same for the peer timeout and the address list.
		ni, err = DecodeNodeInfo(cat(idPart, hdr(partPeerTimeout, 9), []byte{0, 9, 0}))
		if err != nil || ni.PeerTimeout != 9 {
			t.Errorf("%+v %v", ni, err)
		}
		ni, err = DecodeNodeInfo(cat(idPart, hdr(partAddrs, 40), []byte{1, 1, 2, 3, 4, 0, 80, 0}))
		if err != nil || len(ni.Addrs) != 1 || ni.Addrs[0] != netip.MustParseAddrPort("1.2.3.4:80") {
			t.Errorf("%+v %v", ni, err)
		}
	})
	t.Run("fixed part shorter than needed", func(t *testing.T) {
		for _, msg := range [][]byte{
			cat(hdr(partNodeID, 15), id16, []byte{0}),
			cat(idPart, hdr(partPeerTimeout, 1), []byte{1, 0, 0}),
			cat(idPart, hdr(partAddrs, 6), []byte{1, 1, 2, 3, 4, 0, 80, 0}),
			cat(idPart, hdr(partAddrs, 0), []byte{0}),
		} {
			if ni, err := DecodeNodeInfo(msg); !errors.Is(err, ErrTruncated) {
				t.Errorf("% x: %+v %v", msg, ni, err)
			}
		}
	})
	t.Run("peer entry crossing part end", func(t *testing.T) {
		// One peer with one IPv4 address needs 7 bytes; the part says 6.
		msg := cat(idPart, hdr(partPeers, 6), []byte{1, 1, 2, 3, 4, 0, 80}, []byte{0})
		if _, err := DecodeNodeInfo(msg); !errors.Is(err, ErrTruncated) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("claim crossing part end", func(t *testing.T) {
		msg := cat(idPart, hdr(partClaims, 5), []byte{4, 10, 0, 0, 0, 8, 0})
		if _, err := DecodeNodeInfo(msg); !errors.Is(err, ErrTruncated) {
			t.Errorf("err = %v", err)
		}
		msg = cat(idPart, hdr(partClaims, 2), []byte{17, 8, 0})
		if _, err := DecodeNodeInfo(msg); !errors.Is(err, ErrAddressTooLong) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("flag bit 0x40 ignored", func(t *testing.T) {
		msg := cat(idPart, hdr(partPeers, 7), []byte{0x41, 1, 2, 3, 4, 0, 80}, hdr(partAddrs, 1), []byte{0x40, 0})
		ni, err := DecodeNodeInfo(msg)
		if err != nil || len(ni.Peers) != 1 || ni.Peers[0].HasNodeID || len(ni.Peers[0].Addrs) != 1 || len(ni.Addrs) != 0 {
			t.Errorf("%+v %v", ni, err)
		}
	})
}

func TestDecodeNodeInfoBounds(t *testing.T) {
	idPart := cat(hdr(partNodeID, 16), id16)
	// MaxDecodePeers one-byte peers are fine, one more is not.
	ok := cat(idPart, hdr(partPeers, MaxDecodePeers), make([]byte, MaxDecodePeers), []byte{0})
	if ni, err := DecodeNodeInfo(ok); err != nil || len(ni.Peers) != MaxDecodePeers {
		t.Errorf("%d peers: %v", MaxDecodePeers, err)
	}
	bad := cat(idPart, hdr(partPeers, MaxDecodePeers+1), make([]byte, MaxDecodePeers+1), []byte{0})
	if _, err := DecodeNodeInfo(bad); !errors.Is(err, ErrTooManyPeers) {
		t.Errorf("%d peers: %v", MaxDecodePeers+1, err)
	}
	// Empty-address claims are two bytes each.
	ok = cat(idPart, hdr(partClaims, 2*MaxClaims), make([]byte, 2*MaxClaims), []byte{0})
	if ni, err := DecodeNodeInfo(ok); err != nil || len(ni.Claims) != MaxClaims {
		t.Errorf("%d claims: %v", MaxClaims, err)
	}
	bad = cat(idPart, hdr(partClaims, 2*MaxClaims+2), make([]byte, 2*MaxClaims+2), []byte{0})
	if _, err := DecodeNodeInfo(bad); !errors.Is(err, ErrTooManyClaims) {
		t.Errorf("%d claims: %v", MaxClaims+1, err)
	}
}

func TestAppendNodeInfoAllocs(t *testing.T) {
	ni := sampleNodeInfo()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = AppendNodeInfo(buf[:0], ni) }); n != 0 {
		t.Errorf("AppendNodeInfo into a big enough buffer allocates %v times", n)
	}
}

func BenchmarkAppendNodeInfo(b *testing.B) {
	ni := sampleNodeInfo()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = AppendNodeInfo(buf[:0], ni)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeNodeInfo(b *testing.B) {
	body := mustHex(b, realNodeInfoB)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeNodeInfo(body); err != nil {
			b.Fatal(err)
		}
	}
}
