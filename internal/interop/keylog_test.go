package interop

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/wire"
)

func fixtureKey() handshake.PublicKey {
	return handshake.IdentityFromPassword("fixture-password").Public()
}

// TestHandshakeSignatures parses every handshake packet of every capture
// with peercloud's handshake parser, verifying its signature against the
// key derived from "fixture-password", and refuses each with another key.
func TestHandshakeSignatures(t *testing.T) {
	want, err := handshake.ParsePublicKey("flN5YEoeMYZldxcfFm8nQ2rmJAeaSIilWcWCG7WD9lZ")
	if err != nil || want != fixtureKey() {
		t.Fatalf("fixture-password key %v, want the first password vector (%v)", fixtureKey(), err)
	}
	other := handshake.IdentityFromPassword("another password").Public()
	total := 0
	for _, c := range captureCases {
		ps := readCapture(t, c.file)
		n := 0
		for i, p := range ps {
			if (c.algos[0] == 0 && i >= 3) || p.Payload[0] != wire.InitByte {
				continue
			}
			n++
			m, signer, err := handshake.ParseInit(p.Payload, []handshake.PublicKey{other, fixtureKey()})
			if err != nil {
				t.Fatalf("%s packet %d: %v", c.file, i, err)
			}
			if signer != fixtureKey() || len(m.Signature) != 64 {
				t.Errorf("%s packet %d: signer %v, %d-byte signature", c.file, i, signer, len(m.Signature))
			}
			if _, _, err := handshake.ParseInit(p.Payload, []handshake.PublicKey{other}); err == nil {
				t.Errorf("%s packet %d: verified with an untrusted key", c.file, i)
			}
		}
		if n < 3 {
			t.Errorf("%s: %d handshake packets", c.file, n)
		}
		total += n
	}
	t.Logf("%d handshake signatures verified", total)
}

type keyedCapture struct {
	name   string
	n      int // address block 10.99.N.x / 10.95.N.x
	alg    aead.Algorithm
	counts map[string]int // message kinds opened, "handshake" included
	keyIDs map[uint8]int  // encrypted packets per key id
}

var keyedCaptures = []keyedCapture{
	// The README promises a close at the end of the rotation capture; the
	// capture holds none (195 = 5 + 180 + 7 + 3).
	{"vpncloud-2.3.0-aes128-rotation", 31, aead.AES128, map[string]int{
		"handshake": 5, "data": 180, "node-info": 7, "rotation": 3, "keepalive": 0, "close": 0},
		map[uint8]int{0: 162, 2: 15, 3: 13}},
	{"vpncloud-2.3.0-chacha20", 32, aead.ChaCha20, map[string]int{
		"handshake": 5, "data": 6, "node-info": 1, "rotation": 1, "keepalive": 0, "close": 1},
		map[uint8]int{0: 9}},
	{"vpncloud-2.3.0-aes256", 33, aead.AES256, map[string]int{
		"handshake": 8, "data": 6, "node-info": 0, "rotation": 1, "keepalive": 0, "close": 0},
		map[uint8]int{0: 7}},
}

func readKeylog(t *testing.T, name string) []KeyEvent {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := ParseKeylog(f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// side is one node as the capture shows it.
type side struct {
	name     string
	under    netip.AddrPort
	tunnel   netip.Addr
	nodeHash handshake.NodeHash
	nodeID   wire.NodeID
	keys     map[uint64]KeyEvent // keylog by rotation id
	// session is the receiving view of this side: it opens what the
	// *other* side sent. Its nonce half is this side's.
	session *aead.Session
}

// TestKeylogCapturesOpenEveryPacket opens every non-handshake packet of the
// three keylogged captures with peercloud's aead.Session, following the key
// rotation, and decodes what is inside.
//
// Nonce halves (VpnCloud's CryptoCore::new(key, own_hash > peer_hash)): the
// side whose salted node-id hash (handshake field 2) compares greater sends
// with nonce byte 0 = 0x80. The test derives each side's half that way and
// also proves it: for the first packet of each direction exactly one of the
// two halves opens it.
func TestKeylogCapturesOpenEveryPacket(t *testing.T) {
	for _, kc := range keyedCaptures {
		t.Run(kc.name, func(t *testing.T) { openCapture(t, kc) })
	}
}

func openCapture(t *testing.T, kc keyedCapture) {
	ps := readCapture(t, kc.name+".pcap")
	a := &side{name: "A", under: netip.MustParseAddrPort(fmt.Sprintf("10.99.%d.1:3210", kc.n)),
		tunnel: netip.MustParseAddr(fmt.Sprintf("10.95.%d.1", kc.n)), keys: map[uint64]KeyEvent{}}
	b := &side{name: "B", under: netip.MustParseAddrPort(fmt.Sprintf("10.99.%d.2:3210", kc.n)),
		tunnel: netip.MustParseAddr(fmt.Sprintf("10.95.%d.2", kc.n)), keys: map[uint64]KeyEvent{}}
	for _, s := range []*side{a, b} {
		for _, ev := range readKeylog(t, kc.name+"."+s.name+".keylog") {
			if _, dup := s.keys[ev.ID]; dup {
				t.Fatalf("%s keylog: id %d twice", s.name, ev.ID)
			}
			if len(ev.Key) != kc.alg.KeyLen() {
				t.Fatalf("%s keylog: %d-byte key for %v", s.name, len(ev.Key), kc.alg)
			}
			s.keys[ev.ID] = ev
		}
	}
	if !bytes.Equal(a.keys[0].Key, b.keys[0].Key) || a.keys[0].Event != "master" {
		t.Fatal("A and B have different master keys")
	}
	from := func(p netip.AddrPort) (snd, rcv *side) {
		switch p {
		case a.under:
			return a, b
		case b.under:
			return b, a
		}
		t.Fatalf("packet from unknown %v", p)
		return nil, nil
	}

	// Pass 1: the handshake gives each side's salted node-id hash.
	trusted := []handshake.PublicKey{fixtureKey()}
	var inits []handshake.InitMessage
	var initFrom []*side
	seen := map[string]bool{}
	for _, p := range ps {
		if p.Payload[0] != wire.InitByte {
			continue
		}
		m, _, err := handshake.ParseInit(p.Payload, trusted)
		if err != nil {
			t.Fatal(err)
		}
		snd, _ := from(p.Src)
		snd.nodeHash = m.NodeHash
		if !seen[string(p.Payload)] { // repeats are byte-identical resends
			seen[string(p.Payload)] = true
			inits = append(inits, *m)
			initFrom = append(initFrom, snd)
		}
	}
	halfA := bytes.Compare(a.nodeHash[:], b.nodeHash[:]) > 0
	var err error
	if a.session, err = aead.NewSession(kc.alg, halfA, a.keys[0].Key, a.keys[0].Key); err != nil {
		t.Fatal(err)
	}
	if b.session, err = aead.NewSession(kc.alg, !halfA, b.keys[0].Key, b.keys[0].Key); err != nil {
		t.Fatal(err)
	}
	t.Logf("A's nonce half: %v (A hash %x, B hash %x)", halfA, a.nodeHash[:4], b.nodeHash[:4])

	// The pong and peng payloads are node infos sealed with the master key.
	for i, m := range inits {
		snd := initFrom[i]
		_, rcv := from(snd.under)
		if m.Stage == handshake.StagePing {
			continue
		}
		pt, err := rcv.session.Open(bytes.Clone(m.Payload))
		if err != nil {
			t.Fatalf("stage %d payload from %s: %v", m.Stage, snd.name, err)
		}
		ni, err := wire.DecodeNodeInfo(pt)
		if err != nil {
			t.Fatalf("stage %d payload from %s: %v", m.Stage, snd.name, err)
		}
		if len(ni.Claims) != 1 || ni.Claims[0] != (wire.Range{Base: wire.AddressFromIP(snd.tunnel), PrefixLen: 32}) ||
			ni.PeerTimeout != 300 || len(ni.Addrs) != 1 || ni.Addrs[0] != mapped(snd.under) {
			t.Errorf("stage %d node info of %s: %+v", m.Stage, snd.name, ni)
		}
		snd.nodeID = ni.NodeID
	}
	if a.nodeID == (wire.NodeID{}) || b.nodeID == (wire.NodeID{}) {
		t.Fatal("node ids not learned from the handshake")
	}

	// Pass 2: every other packet.
	counts := map[string]int{"handshake": 0}
	halfChecked := map[*side]bool{}
	lastRotation := map[*side]uint64{}
	var pings [2]int
	keyIDs := map[uint8]int{}
	for i, p := range ps {
		if p.Payload[0] == wire.InitByte {
			counts["handshake"]++
			continue
		}
		snd, rcv := from(p.Src)
		f, err := ParseFrame(p.Payload)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !halfChecked[snd] {
			halfChecked[snd] = true
			checkExactlyOneHalf(t, kc.alg, rcv.keys[0].Key, p.Payload, !rcv.session.NonceHalf())
		}
		keyIDs[f.KeyID]++
		pt, err := rcv.session.Open(bytes.Clone(p.Payload))
		if err != nil {
			t.Fatalf("packet %d from %s (key id %d, counter %x): %v", i, snd.name, f.KeyID, f.Counter, err)
		}
		switch typ, body := pt[0], pt[1:]; typ {
		case wire.TypeData:
			counts["data"]++
			req := snd == a
			icmpType, src, dst := byte(8), a.tunnel, b.tunnel
			if !req {
				icmpType, src, dst = 0, b.tunnel, a.tunnel
			}
			checkICMP(t, body, src, dst, icmpType)
			if req {
				pings[0]++
			} else {
				pings[1]++
			}
		case wire.TypeNodeInfo:
			counts["node-info"]++
			ni, err := wire.DecodeNodeInfo(body)
			if err != nil {
				t.Fatalf("packet %d: %v", i, err)
			}
			want := []wire.PeerInfo{{NodeID: rcv.nodeID, HasNodeID: true, Addrs: []netip.AddrPort{mapped(rcv.under)}}}
			if ni.NodeID != snd.nodeID || fmt.Sprint(ni.Peers) != fmt.Sprint(want) || ni.PeerTimeout != 300 {
				t.Errorf("packet %d: node info from %s: %+v", i, snd.name, ni)
			}
		case wire.TypeKeepalive:
			counts["keepalive"]++
			if len(body) != 0 {
				t.Errorf("packet %d: keepalive with %d-byte body", i, len(body))
			}
		case wire.TypeClose:
			counts["close"]++
			if len(body) != 0 {
				t.Errorf("packet %d: close with %d-byte body", i, len(body))
			}
		case wire.TypeRotation:
			counts["rotation"]++
			m, err := handshake.ParseRotation(body)
			if err != nil {
				t.Fatalf("packet %d: %v", i, err)
			}
			followRotation(t, i, m, snd, rcv, lastRotation)
		default:
			t.Errorf("packet %d: unknown message type %#x", i, typ)
		}
	}
	if pings[0] != pings[1] {
		t.Errorf("%d echo requests, %d replies", pings[0], pings[1])
	}
	for k, v := range kc.counts {
		if counts[k] != v {
			t.Errorf("%s: %d, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
	for k, v := range kc.keyIDs {
		if _, ok := keyIDs[k]; !ok || (v != 0 && keyIDs[k] != v) {
			t.Errorf("key id %d: %d packets, want %d (all: %v)", k, keyIDs[k], v, keyIDs)
		}
	}
	if len(keyIDs) != len(kc.keyIDs) {
		t.Errorf("key ids used: %v, want %v", keyIDs, kc.keyIDs)
	}
	sum := 0
	for _, v := range counts {
		sum += v
	}
	if sum != len(ps) {
		t.Errorf("%d of %d packets accounted for: %v", sum, len(ps), counts)
	}
	t.Logf("%d packets: %v, per key id %v", len(ps), counts, keyIDs)
}

// followRotation checks a rotation message against VpnCloud's rotation
// protocol and the senders' key logs and installs the keys it brings:
// message 1 (from the responder) only proposes; a message n>1 confirms the
// peer's last proposal, so its sender has installed key n (rotate-cycle,
// not for sending) and its receiver installs key n for sending
// (rotate-recv-msg). Both sides then open slot n%4 with it.
func followRotation(t *testing.T, i int, m handshake.RotationMessage, snd, rcv *side, last map[*side]uint64) {
	t.Helper()
	if m.ID <= last[snd] {
		// A resend of the same proposal after a lost message is allowed.
		if m.ID != last[snd] {
			t.Errorf("packet %d: rotation id %d after %d from %s", i, m.ID, last[snd], snd.name)
		}
		return
	}
	last[snd] = m.ID
	if m.Confirm == nil {
		if m.ID != 1 {
			t.Errorf("packet %d: rotation %d from %s confirms nothing", i, m.ID, snd.name)
		}
		return
	}
	sent, ok1 := snd.keys[m.ID]
	got, ok2 := rcv.keys[m.ID]
	if !ok1 || !ok2 || sent.Event != "rotate-cycle" || sent.UseForSending ||
		got.Event != "rotate-recv-msg" || !got.UseForSending || !bytes.Equal(sent.Key, got.Key) {
		t.Fatalf("packet %d: rotation %d from %s does not match the key logs: %+v / %+v", i, m.ID, snd.name, sent, got)
	}
	if err := snd.session.Install(int(m.ID%4), sent.Key, sent.Key, false); err != nil {
		t.Fatal(err)
	}
	if err := rcv.session.Install(int(m.ID%4), got.Key, got.Key, true); err != nil {
		t.Fatal(err)
	}
}

// checkExactlyOneHalf opens pkt with both nonce halves of a fresh session
// and requires that only the expected sender half works.
func checkExactlyOneHalf(t *testing.T, alg aead.Algorithm, key, pkt []byte, senderHalf bool) {
	t.Helper()
	for _, half := range []bool{false, true} {
		// A receiver with nonce half h opens packets sent with half !h.
		s, err := aead.NewSession(alg, !half, key, key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Open(bytes.Clone(pkt))
		if (err == nil) != (half == senderHalf) {
			t.Errorf("sender half %v: open error %v (expected half %v)", half, err, senderHalf)
		}
		if err != nil && !errors.Is(err, aead.ErrAuth) {
			t.Errorf("wrong half: %v, want aead.ErrAuth", err)
		}
	}
}
