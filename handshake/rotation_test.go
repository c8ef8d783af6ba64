package handshake

import (
	"bytes"
	"errors"
	"testing"

	"github.com/peercloud/peercloud/aead"
)

func TestRotationMessageRoundTrip(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	for _, m := range []RotationMessage{{ID: 1, Propose: k1}, {ID: 1<<63 + 5, Propose: k1, Confirm: k2}} {
		b := m.Append(nil)
		want := 8 + 1 + 32 + 1
		if m.Confirm != nil {
			want += 32
		}
		if len(b) != want {
			t.Fatalf("length %d, want %d", len(b), want)
		}
		got, err := ParseRotation(append(b, 0xEE)) // trailing bytes ignored
		if err != nil || got.ID != m.ID || !bytes.Equal(got.Propose, m.Propose) || !bytes.Equal(got.Confirm, m.Confirm) {
			t.Fatalf("round trip %+v -> %+v, %v", m, got, err)
		}
		for n := 0; n < len(b); n++ {
			if _, err := ParseRotation(b[:n]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("truncated to %d: %v", n, err)
			}
		}
	}
	bad := (&RotationMessage{ID: 3, Propose: []byte{1, 2, 3}}).Append(nil)
	if _, err := ParseRotation(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short key: %v", err)
	}
}

func TestRotationStateDuplicatesAndLowOrderKeys(t *testing.T) {
	starter, m1, err := newRotationState(true, newDetRand(1))
	if err != nil || m1 == nil || m1.ID != 1 || m1.Confirm != nil {
		t.Fatalf("starter: %+v %v", m1, err)
	}
	other, none, _ := newRotationState(false, newDetRand(2))
	if none != nil {
		t.Fatal("non-starter sent a message")
	}
	if k, err := other.handle(m1); k != nil || err != nil || other.pending == nil {
		t.Fatalf("message 1: %v %v", k, err)
	}
	m2, k2, err := other.cycle()
	if err != nil || m2 == nil || m2.ID != 2 || k2 == nil || k2.useForSending {
		t.Fatalf("cycle: %+v %+v %v", m2, k2, err)
	}
	got, err := starter.handle(m2)
	if err != nil || got == nil || got.id != 2 || !got.useForSending || !bytes.Equal(got.secret, k2.secret) {
		t.Fatalf("confirm: %+v %v", got, err)
	}
	// The same message again yields nothing new.
	if again, err := starter.handle(m2); again != nil || err != nil {
		t.Fatalf("duplicate: %+v %v", again, err)
	}
	// An all-zero (low-order) key is refused without changing state.
	pending := other.pending
	zero := &RotationMessage{ID: 99, Propose: make([]byte, 32)}
	if _, err := other.handle(zero); !errors.Is(err, ErrMalformed) || other.pending != pending {
		t.Fatalf("low-order key: %v", err)
	}
}

func TestHandleRotationStates(t *testing.T) {
	p := newTestPeer(t, 90, "x")
	if err := p.HandleRotation(nil); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("before handshake: %v", err)
	}
	plain := func(c *Config) { c.AllowPlain = true }
	a, b := newTestPeer(t, 91, "A", plain), newTestPeer(t, 92, "B", plain)
	newSim(t, a, b).handshake(0)
	if err := a.HandleRotation([]byte{1}); err != nil {
		t.Fatalf("plain ignores rotation: %v", err)
	}
	c, d := newTestPeer(t, 93, "C"), newTestPeer(t, 94, "D")
	newSim(t, c, d).handshake(0)
	if err := c.HandleRotation([]byte{1, 2}); !errors.Is(err, ErrTruncated) {
		t.Fatalf("garbage rotation: %v", err)
	}
	checkTraffic(t, c, d)
}

func TestExtendedKeySchedule(t *testing.T) {
	secret := bytes.Repeat([]byte{0x5a}, 32)
	th := [32]byte{1}
	for _, n := range []int{16, 32} {
		is, ir, err := directionalKeys(secret, &th, true, 0, n)
		if err != nil {
			t.Fatal(err)
		}
		rs, rr, _ := directionalKeys(secret, &th, false, 0, n)
		if !bytes.Equal(is, rr) || !bytes.Equal(ir, rs) || bytes.Equal(is, ir) || len(is) != n {
			t.Fatal("direction keys not mirrored or not distinct")
		}
		if bytes.Equal(is, secret[:n]) || bytes.Equal(ir, secret[:n]) {
			t.Fatal("extended key equals VpnCloud's raw key")
		}
		r2s, r2r, _ := directionalKeys(secret, &th, true, 2, n)
		r3s, _, _ := directionalKeys(secret, &th, true, 3, n)
		if bytes.Equal(r2s, is) || bytes.Equal(r2r, ir) || bytes.Equal(r2s, r3s) || bytes.Equal(r2s, secret[:n]) {
			t.Fatal("rotated keys not bound to the rotation id")
		}
		other := [32]byte{2}
		os, _, _ := directionalKeys(secret, &other, true, 0, n)
		if bytes.Equal(os, is) {
			t.Fatal("keys not bound to the transcript")
		}
	}
	// Transcript: every input matters, and the order is initiator first.
	x := handshakeSide{signer: PublicKey{1}, nodeHash: NodeHash{2}, ecdh: []byte{3}, algs: []byte{4}}
	y := handshakeSide{signer: PublicKey{5}, nodeHash: NodeHash{6}, ecdh: []byte{7}, algs: []byte{8}}
	base := transcriptHash(&x, &y)
	if transcriptHash(&y, &x) == base {
		t.Fatal("transcript ignores order")
	}
	for i := 0; i < 4; i++ {
		z := y
		switch i {
		case 0:
			z.signer[0] ^= 1
		case 1:
			z.nodeHash[0] ^= 1
		case 2:
			z.ecdh = []byte{9}
		case 3:
			z.algs = []byte{9}
		}
		if transcriptHash(&x, &z) == base {
			t.Fatalf("transcript ignores input %d", i)
		}
	}
}

// TestExtendedSessionNotVpnCloudKeys checks that two extended peers do not
// use the raw X25519 key: a VpnCloud-style session keyed with the raw
// shared secret cannot open their traffic.
func TestExtendedSessionNotVpnCloudKeys(t *testing.T) {
	for _, ext := range []bool{true, false} {
		opt := func(c *Config) { c.Extended = ext }
		a, b := newTestPeer(t, 95, "A", opt), newTestPeer(t, 96, "B", opt)
		checkRawKey(t, a, b, ext)
	}
}

func checkRawKey(t *testing.T, a, b *Peer, ext bool) {
	s := newSim(t, a, b)
	ping, _ := a.Start()
	privA := a.init.ecdhPriv
	s.send(0, ping)
	s.run()
	pong, _, err := ParseInit(s.log[1].pkt, []PublicKey{a.cfg.Identity.Public()})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := x25519(privA, pong.ECDHKey)
	if err != nil {
		t.Fatal(err)
	}
	half := bytes.Compare(b.nodeHash[:], a.nodeHash[:]) > 0
	vpncloud, _ := aead.NewSession(aead.AES128, half, raw[:16], raw[:16])
	pkt, _ := sealPacket(a.Session(), []byte{0, 1, 2})
	if _, err := vpncloud.Open(append([]byte(nil), pkt...)); (err == nil) == ext {
		t.Fatalf("extended=%v: raw VpnCloud key opens traffic: %v", ext, err == nil)
	}
	if _, err := b.Session().Open(pkt); err != nil {
		t.Fatalf("extended peer cannot open: %v", err)
	}
}
