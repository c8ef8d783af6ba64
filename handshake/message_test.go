package handshake

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/peercloud/peercloud/aead"
)

// TestEncodeMatchesVpnCloudBytes re-encodes every captured handshake
// message from its parsed fields with the fixture identity and the same
// salt: Ed25519 is deterministic, so the bytes must be identical.
func TestEncodeMatchesVpnCloudBytes(t *testing.T) {
	id := IdentityFromPassword("fixture-password")
	pkts := captureInits(t)
	for _, pkt := range pkts {
		m, _, err := ParseInit(pkt, []PublicKey{fixtureKey})
		if err != nil {
			t.Fatal(err)
		}
		o := &outMessage{stage: m.Stage, nodeHash: m.NodeHash, ecdh: m.ECDHKey, algs: m.rawAlgorithms, payload: m.Payload}
		if got := o.encode(id, m.Salt); !bytes.Equal(got, pkt) {
			t.Fatalf("stage %d: re-encoded\n%x\nwant\n%x", m.Stage, got, pkt)
		}
	}
	if len(pkts) < 18 {
		t.Fatalf("only %d handshake packets", len(pkts))
	}
}

func TestOwnMessageLayout(t *testing.T) {
	for _, ext := range []bool{false, true} {
		p := newTestPeer(t, 80, "x", func(c *Config) {
			c.Extended = ext
			c.Algorithms = []AlgoSpeed{{aead.AES128, 123.5}}
		})
		ping, err := p.Start()
		if err != nil {
			t.Fatal(err)
		}
		want := 145 // as VpnCloud's single-algorithm ping
		if ext {
			want += 5
		}
		if len(ping) != want {
			t.Fatalf("ext=%v: ping length %d, want %d", ext, len(ping), want)
		}
		m, signer, err := ParseInit(ping, []PublicKey{p.cfg.Identity.Public()})
		if err != nil || signer != p.cfg.Identity.Public() {
			t.Fatal(err)
		}
		if m.Stage != StagePing || m.NodeHash != p.NodeHash() || len(m.ECDHKey) != 32 ||
			len(m.Algorithms) != 1 || m.Algorithms[0] != (AlgoSpeed{aead.AES128, 123.5}) || m.AllowPlain {
			t.Fatalf("parsed %+v", m)
		}
		if (m.Ext != nil) != ext || (ext && !m.Ext.keySchedule()) {
			t.Fatalf("extension %+v", m.Ext)
		}
		if !isOwnNodeHash(&m.NodeHash, &p.cfg.NodeID) {
			t.Fatal("node hash not derived from node id")
		}
	}
}

// signed builds a signed init body from raw TLV bytes (after salt+hash).
func signed(id *Identity, tlv []byte) []byte {
	pub := id.Public()
	salt := [4]byte{1, 2, 3, 4}
	h := keyHash(&pub, salt[:])
	b := append([]byte{InitByte}, salt[:]...)
	b = append(b, h[:]...)
	b = append(b, tlv...)
	sig := id.sign(b[1:])
	b = append(b, byte(len(sig)))
	return append(b, sig...)
}

func TestParseInitFieldRules(t *testing.T) {
	id := IdentityFromPassword("rules")
	trusted := []PublicKey{id.Public()}
	stage := func(s byte) []byte { return []byte{fieldStage, 0, 1, s} }
	hash := append([]byte{fieldNodeHash, 0, 20}, bytes.Repeat([]byte{7}, 20)...)
	ecdhF := append([]byte{fieldECDH, 0, 32}, bytes.Repeat([]byte{9}, 32)...)
	algs := []byte{fieldAlgorithms, 0, 15, 1, 0x42, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x7f, 0x80, 0, 0}
	payload := []byte{fieldPayload, 0, 2, 0xaa, 0xbb}
	unknown := []byte{0x77, 0, 3, 1, 2, 3}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name string
		tlv  []byte
		err  error
	}{
		{"ping", cat(stage(1), hash, ecdhF, algs, []byte{0}), nil},
		{"ping-unknown-field", cat(unknown, stage(1), hash, unknown, ecdhF, algs, []byte{0}), nil},
		{"pong", cat(stage(2), hash, ecdhF, algs, payload, []byte{0}), nil},
		{"peng", cat(stage(3), hash, payload, []byte{0}), nil},
		{"no-stage", cat(hash, payload, []byte{0}), ErrMissingField},
		{"no-hash", cat(stage(3), payload, []byte{0}), ErrMissingField},
		{"ping-no-ecdh", cat(stage(1), hash, algs, []byte{0}), ErrMissingField},
		{"ping-no-algs", cat(stage(1), hash, ecdhF, []byte{0}), ErrMissingField},
		{"pong-no-payload", cat(stage(2), hash, ecdhF, algs, []byte{0}), ErrMissingField},
		{"peng-no-payload", cat(stage(3), hash, []byte{0}), ErrMissingField},
		{"bad-stage", cat(stage(4), hash, payload, []byte{0}), ErrMalformed},
		{"stage-len", cat([]byte{fieldStage, 0, 2, 1, 1}, hash, []byte{0}), ErrMalformed},
		{"hash-len", cat(stage(3), []byte{fieldNodeHash, 0, 1, 1}, payload, []byte{0}), ErrMalformed},
		{"no-end", cat(stage(3), hash, payload), ErrTruncated},
		{"field-overrun", cat(stage(3), hash, []byte{fieldPayload, 0, 200, 1}), ErrTruncated},
	}
	for _, c := range cases {
		m, _, err := ParseInit(signed(id, c.tlv), trusted)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
			continue
		}
		if err == nil && c.name == "ping" {
			// Entries: AES128 with speed bits 0x42000000 (32), id 9 (unknown, dropped),
			// plain (id 0) with +Inf.
			if len(m.Algorithms) != 1 || m.Algorithms[0] != (AlgoSpeed{aead.AES128, 32}) || !m.AllowPlain {
				t.Errorf("algorithms %+v plain %v", m.Algorithms, m.AllowPlain)
			}
		}
	}
	// An algorithm field whose length is not a multiple of 5 consumes only
	// whole entries, as VpnCloud: the leftover byte is read as the next field
	// type (here 0 = end, so the message ends there).
	odd := cat(stage(3), hash, payload, []byte{fieldAlgorithms, 0, 6, 1, 0, 0, 0, 0, 0})
	m, _, err := ParseInit(signed(id, odd), trusted)
	if err != nil || len(m.Algorithms) != 1 {
		t.Errorf("odd algorithm length: %v %+v", err, m)
	}
	if _, _, err := ParseInit(nil, trusted); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty: %v", err)
	}
	if _, _, err := ParseInit([]byte{InitByte, 1, 2}, trusted); !errors.Is(err, ErrTruncated) {
		t.Errorf("short: %v", err)
	}
}

func TestSelectAlgorithm(t *testing.T) {
	A1, A2, C := aead.AES128, aead.AES256, aead.ChaCha20
	nan := float32(math.NaN())
	cases := []struct {
		name      string
		own       []AlgoSpeed
		ownPlain  bool
		peer      []AlgoSpeed
		peerPlain bool
		want      aead.Algorithm
		ok        bool
	}{
		{"both-plain", []AlgoSpeed{{A1, 9}}, true, []AlgoSpeed{{A1, 9}}, true, aead.Plain, true},
		{"only-own-plain", []AlgoSpeed{{A1, 9}}, true, []AlgoSpeed{{A1, 9}}, false, A1, true},
		{"only-peer-plain", nil, false, nil, true, 0, false},
		{"plain-only-vs-encrypted", nil, true, []AlgoSpeed{{A1, 9}}, false, 0, false},
		{"no-common", []AlgoSpeed{{A1, 9}}, false, []AlgoSpeed{{C, 9}}, false, 0, false},
		{"lower-of-two-speeds", []AlgoSpeed{{A1, 100}, {C, 500}}, false, []AlgoSpeed{{A1, 1000}, {C, 50}}, false, A1, true},
		{"fastest-min-wins", []AlgoSpeed{{A1, 100}, {A2, 300}, {C, 200}}, false, []AlgoSpeed{{C, 250}, {A2, 250}, {A1, 900}}, false, A2, true},
		{"tie-keeps-own-first", []AlgoSpeed{{C, 100}, {A1, 100}}, false, []AlgoSpeed{{A1, 100}, {C, 100}}, false, C, true},
		{"peer-duplicate-first-counts", []AlgoSpeed{{A1, 100}, {C, 60}}, false, []AlgoSpeed{{A1, 10}, {A1, 1000}, {C, 60}}, false, C, true},
		{"nan-never-replaces", []AlgoSpeed{{A1, 10}, {C, nan}}, false, []AlgoSpeed{{A1, 10}, {C, nan}}, false, A1, true},
	}
	for _, c := range cases {
		got, ok := SelectAlgorithm(c.own, c.ownPlain, c.peer, c.peerPlain)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: got %v %v, want %v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestMeasureAlgorithms(t *testing.T) {
	got := MeasureAlgorithms([]aead.Algorithm{aead.Plain, aead.AES128, aead.ChaCha20}, 5e6)
	if len(got) != 2 || got[0].Alg != aead.AES128 || got[1].Alg != aead.ChaCha20 {
		t.Fatalf("got %+v", got)
	}
	for _, a := range got {
		if !(a.Speed > 0) {
			t.Errorf("%v speed %v", a.Alg, a.Speed)
		}
	}
}
