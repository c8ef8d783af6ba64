package handshake

import (
	"bytes"
	"testing"
)

// FuzzParseInit: no input panics; accepted messages verify and re-parse.
func FuzzParseInit(f *testing.F) {
	for _, p := range captureInits(f) {
		f.Add(p)
	}
	a := newTestPeer(f, 1, "A")
	ping, _ := a.Start()
	f.Add(ping)
	f.Add([]byte{InitByte})
	trusted := []PublicKey{fixtureKey, a.cfg.Identity.Public()}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, signer, err := ParseInit(data, trusted)
		if err != nil {
			return
		}
		if signer != fixtureKey && signer != trusted[1] {
			t.Fatal("unknown signer")
		}
		if m.Stage < StagePing || m.Stage > StagePeng || !bytes.Equal(m.Signed, data[1:1+len(m.Signed)]) {
			t.Fatalf("accepted inconsistent message %+v", m)
		}
	})
}

// FuzzRotationMessage: no input panics; accepted messages re-encode to a
// prefix of the input, and feeding them to rotation states never panics.
func FuzzRotationMessage(f *testing.F) {
	k := bytes.Repeat([]byte{9}, 32)
	f.Add((&RotationMessage{ID: 1, Propose: k}).Append(nil))
	f.Add((&RotationMessage{ID: 2, Propose: k, Confirm: k}).Append(nil))
	f.Add((&RotationMessage{ID: 2, Propose: make([]byte, 32), Confirm: k}).Append(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseRotation(data)
		if err != nil {
			return
		}
		if enc := m.Append(nil); !bytes.HasPrefix(data, enc) {
			t.Fatalf("re-encoding %x is not a prefix of %x", enc, data)
		}
		for _, starter := range []bool{true, false} {
			s, _, err := newRotationState(starter, newDetRand(3))
			if err != nil {
				t.Fatal(err)
			}
			s.handle(&m)
			s.cycle()
			s.handle(&m)
		}
	})
}

// FuzzPeerHandle feeds arbitrary packets to peers in every state: fresh,
// waiting for a pong, waiting for a peng, established (also as rotation
// bodies). Nothing may panic, and a garbage packet never establishes.
func FuzzPeerHandle(f *testing.F) {
	for _, p := range captureInits(f) {
		f.Add(p)
	}
	a, b := newTestPeer(f, 1, "A"), newTestPeer(f, 2, "B")
	s := newSim(f, a, b)
	s.handshake(0)
	for _, m := range s.log {
		f.Add(m.pkt)
	}
	f.Add((&RotationMessage{ID: 7, Propose: bytes.Repeat([]byte{9}, 32)}).Append(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		fresh := newTestPeer(t, 3, "C")
		started := newTestPeer(t, 4, "D")
		started.Start()
		responder := newTestPeer(t, 5, "E")
		ping, _ := newTestPeer(t, 6, "F").Start()
		responder.HandleInit(ping)
		x, y := newTestPeer(t, 7, "G"), newTestPeer(t, 8, "H")
		newSim(t, x, y).handshake(0)
		for _, p := range []*Peer{fresh, started, responder, x, y} {
			was := p.Established()
			res, _ := p.HandleInit(data)
			p.HandleRotation(data)
			p.Tick()
			if res.Established && was {
				t.Fatal("second establishment")
			}
		}
	})
}
