package handshake

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/peercloud/peercloud/aead"
)

var fixtureKey = IdentityFromPassword("fixture-password").Public()

// TestCaptureHandshakesVerify parses every handshake packet of every real
// VpnCloud 2.3.0 capture and verifies its signature with the key of
// "fixture-password".
func TestCaptureHandshakesVerify(t *testing.T) {
	wantLens := map[Stage]map[int]bool{
		StagePing: {145: true, 155: true},
		StagePong: {207: true, 231: true, 241: true},
		StagePeng: {164: true, 188: true},
	}
	stages := map[Stage]int{}
	for _, name := range captureNames {
		for _, p := range readCapture(t, name) {
			if len(p.payload) <= 1 || p.payload[0] != InitByte {
				continue
			}
			m, signer, err := ParseInit(p.payload, []PublicKey{fixtureKey})
			if err != nil {
				t.Fatalf("%s: ParseInit: %v", name, err)
			}
			if signer != fixtureKey {
				t.Fatalf("%s: signer %v", name, signer)
			}
			stages[m.Stage]++
			if !wantLens[m.Stage][len(p.payload)] {
				t.Errorf("%s: stage %d of unexpected length %d", name, m.Stage, len(p.payload))
			}
			if m.Ext != nil {
				t.Errorf("%s: VpnCloud message carries a peercloud extension", name)
			}
			if m.Stage != StagePeng && len(m.ECDHKey) != 32 {
				t.Errorf("%s: ecdh key length %d", name, len(m.ECDHKey))
			}
			// An untrusted key set refuses it.
			other := IdentityFromPassword("other").Public()
			if _, _, err := ParseInit(p.payload, []PublicKey{other}); !errors.Is(err, ErrUntrustedKey) {
				t.Errorf("%s: untrusted key err = %v", name, err)
			}
		}
	}
	if stages[StagePing] < len(captureNames) || stages[StagePong] < len(captureNames) || stages[StagePeng] < len(captureNames) {
		t.Errorf("stage counts %v", stages)
	}
}

// TestCaptureAlgorithms checks the algorithm lists VpnCloud sent.
func TestCaptureAlgorithms(t *testing.T) {
	cases := map[string]struct {
		plain bool
		algs  []aead.Algorithm
	}{
		"vpncloud-2.3.0-plain.pcap":   {true, nil},
		"vpncloud-2.3.0-aes128.pcap":  {false, []aead.Algorithm{aead.AES128}},
		"vpncloud-2.3.0-default.pcap": {false, []aead.Algorithm{aead.AES128, aead.AES256, aead.ChaCha20}},
	}
	for name, want := range cases {
		m, _, err := ParseInit(readCapture(t, name)[0].payload, []PublicKey{fixtureKey})
		if err != nil || m.Stage != StagePing {
			t.Fatalf("%s: first packet: %v", name, err)
		}
		if m.AllowPlain != want.plain || len(m.Algorithms) != len(want.algs) {
			t.Fatalf("%s: algorithms %+v plain %v", name, m.Algorithms, m.AllowPlain)
		}
		for i, a := range want.algs {
			if m.Algorithms[i].Alg != a || !(m.Algorithms[i].Speed > 0) {
				t.Errorf("%s: entry %d = %+v", name, i, m.Algorithms[i])
			}
		}
		// Our encoder writes the entries exactly as VpnCloud did.
		if got := encodeAlgorithms(nil, m.Algorithms, m.AllowPlain); !bytes.Equal(got, m.rawAlgorithms) {
			t.Errorf("%s: re-encoded algorithms %x, want %x", name, got, m.rawAlgorithms)
		}
	}
}

// TestCaptureKeylogSessions rebuilds both sides' sessions from the keylogs
// with the nonce half chosen by our rule (own salted node-id hash > peer's),
// and opens the pong and peng payloads, the first rotation message and all
// traffic under the master key.
func TestCaptureKeylogSessions(t *testing.T) {
	cases := []struct {
		capture string
		alg     aead.Algorithm
		a, b    netip.Addr
	}{
		{"vpncloud-2.3.0-aes128-rotation", aead.AES128, netip.MustParseAddr("10.99.31.1"), netip.MustParseAddr("10.99.31.2")},
		{"vpncloud-2.3.0-chacha20", aead.ChaCha20, netip.MustParseAddr("10.99.32.1"), netip.MustParseAddr("10.99.32.2")},
		{"vpncloud-2.3.0-aes256", aead.AES256, netip.MustParseAddr("10.99.33.1"), netip.MustParseAddr("10.99.33.2")},
	}
	for _, c := range cases {
		t.Run(c.capture, func(t *testing.T) {
			master := readKeylog(t, c.capture+".A.keylog")[0]
			if master.event != "master" || len(master.key) != c.alg.KeyLen() {
				t.Fatalf("keylog master %+v", master)
			}
			pkts := readCapture(t, c.capture+".pcap")
			var hashA, hashB *NodeHash
			var pong, peng *InitMessage
			for _, p := range pkts {
				if len(p.payload) <= 1 || p.payload[0] != InitByte {
					continue
				}
				m, _, err := ParseInit(p.payload, []PublicKey{fixtureKey})
				if err != nil {
					t.Fatal(err)
				}
				h := m.NodeHash
				if p.src == c.a {
					hashA = &h
				} else {
					hashB = &h
				}
				switch m.Stage {
				case StagePong:
					pong = m
				case StagePeng:
					peng = m
				}
			}
			if hashA == nil || hashB == nil || pong == nil || peng == nil {
				t.Fatal("handshake incomplete in capture")
			}
			halfA := bytes.Compare(hashA[:], hashB[:]) > 0
			sessA, err := aead.NewSession(c.alg, halfA, master.key, master.key)
			if err != nil {
				t.Fatal(err)
			}
			sessB, err := aead.NewSession(c.alg, !halfA, master.key, master.key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := openPayload(sessA, c.alg, pong.Payload); err != nil {
				t.Fatalf("A opens pong payload: %v", err)
			}
			if _, err := openPayload(sessB, c.alg, peng.Payload); err != nil {
				t.Fatalf("B opens peng payload: %v", err)
			}
			opened, rotations := 0, 0
			for _, p := range pkts {
				if len(p.payload) < aead.Overhead || p.payload[0] != 0 {
					continue // handshake, or a rotated slot
				}
				sess := sessA
				if p.src == c.a {
					sess = sessB
				}
				pt, err := sess.Open(append([]byte(nil), p.payload...))
				if err != nil {
					t.Fatalf("open packet from %v: %v", p.src, err)
				}
				opened++
				if pt[0] == TypeRotation {
					m, err := ParseRotation(pt[1:])
					if err != nil {
						t.Fatalf("rotation message: %v", err)
					}
					if p.src == c.b && m.ID == 1 && m.Confirm == nil {
						rotations++
					}
				}
			}
			if opened < 4 || rotations < 1 {
				t.Errorf("opened %d packets, %d first rotation messages from B", opened, rotations)
			}
		})
	}
}
