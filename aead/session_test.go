package aead

import (
	"bytes"
	"crypto/rand"
	"errors"
	"reflect"
	"testing"
)

var suites = []Algorithm{AES128, AES256, ChaCha20}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// pair returns a sender (half true) and receiver (half false) sharing a key.
func pair(t testing.TB, alg Algorithm) (*Session, *Session) {
	t.Helper()
	key := randBytes(t, 32)
	a, err := NewSession(alg, true, key, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSession(alg, false, key, key)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// seal seals msg with s and returns a copy of the packet.
func seal(t testing.TB, s *Session, msg []byte) []byte {
	t.Helper()
	buf := make([]byte, HeaderLen+len(msg), HeaderLen+len(msg)+TagLen)
	copy(buf[HeaderLen:], msg)
	pkt, err := s.Seal(buf, len(msg))
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), pkt...)
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range suites {
		t.Run(alg.String(), func(t *testing.T) {
			a, b := pair(t, alg)
			for _, n := range []int{0, 1, 15, 16, 17, 64, 1400, 9000} {
				msg := randBytes(t, n)
				pkt := seal(t, a, msg)
				if len(pkt) != n+Overhead {
					t.Fatalf("packet %d bytes for %d", len(pkt), n)
				}
				if n >= 16 && bytes.Contains(pkt, msg[:16]) {
					t.Fatal("plaintext visible in packet")
				}
				plain, err := b.Open(pkt)
				if err != nil {
					t.Fatalf("n=%d: %v", n, err)
				}
				if !bytes.Equal(plain, msg) {
					t.Fatalf("n=%d: round trip mismatch", n)
				}
				// and the other direction
				back, err := a.Open(seal(t, b, msg))
				if err != nil || !bytes.Equal(back, msg) {
					t.Fatalf("n=%d reverse: %v", n, err)
				}
			}
		})
	}
}

func TestPlain(t *testing.T) {
	a, err := NewSession(Plain, true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	copy(buf[HeaderLen:], "\x00hello")
	pkt, err := a.Seal(buf, 6)
	if err != nil {
		t.Fatal(err)
	}
	if string(pkt) != "\x00hello" || &pkt[0] != &buf[HeaderLen] {
		t.Fatalf("plain seal %q", pkt)
	}
	plain, err := a.Open(pkt)
	if err != nil || &plain[0] != &pkt[0] || len(plain) != 6 {
		t.Fatalf("plain open %q %v", plain, err)
	}
	if _, err := a.Open(nil); !errors.Is(err, ErrShort) {
		t.Fatalf("empty plain packet: %v", err)
	}
	if _, err := a.Seal(buf, 0); !errors.Is(err, ErrShort) {
		t.Fatalf("empty plain seal: %v", err)
	}
}

// Every bit of the nonce, ciphertext and tag is authenticated; the low two
// bits of the key id pick the slot (an empty slot gives ErrNoKey, another key
// ErrAuth); the high six bits are ignored, as VpnCloud does (id % 4).
func TestTamper(t *testing.T) {
	for _, alg := range suites {
		t.Run(alg.String(), func(t *testing.T) {
			a, b := pair(t, alg)
			pkt := seal(t, a, randBytes(t, 40))
			for i := 1; i < len(pkt); i++ {
				for bit := 0; bit < 8; bit++ {
					d := append([]byte(nil), pkt...)
					d[i] ^= 1 << bit
					if _, err := b.Open(d); !errors.Is(err, ErrAuth) {
						t.Fatalf("byte %d bit %d flipped: err %v", i, bit, err)
					}
				}
			}
			for bit := 0; bit < 2; bit++ {
				d := append([]byte(nil), pkt...)
				d[0] ^= 1 << bit
				if _, err := b.Open(d); !errors.Is(err, ErrNoKey) {
					t.Fatalf("key id bit %d into empty slot: %v", bit, err)
				}
			}
			if err := b.Install(1, randBytes(t, 32), randBytes(t, 32), false); err != nil {
				t.Fatal(err)
			}
			d := append([]byte(nil), pkt...)
			d[0] ^= 1
			if _, err := b.Open(d); !errors.Is(err, ErrAuth) {
				t.Fatalf("key id pointing at another key: %v", err)
			}
			// Failed packets did not touch the replay window: the original opens.
			if _, err := b.Open(append([]byte(nil), pkt...)); err != nil {
				t.Fatalf("original after tampering: %v", err)
			}
			d = seal(t, a, []byte{0})
			d[0] |= 0xFC
			if _, err := b.Open(d); err != nil {
				t.Fatalf("high key id bits must be ignored: %v", err)
			}
			for n := 0; n < Overhead; n++ {
				if _, err := b.Open(pkt[:n]); !errors.Is(err, ErrShort) {
					t.Fatalf("%d-byte packet: %v", n, err)
				}
			}
		})
	}
}

// Both sides use the same key; only the nonce half keeps directions apart.
func TestNonceHalves(t *testing.T) {
	for _, alg := range suites {
		key := randBytes(t, 32)
		a, _ := NewSession(alg, true, key, key)
		same, _ := NewSession(alg, true, key, key)
		msg := []byte("\x00data")
		if _, err := same.Open(seal(t, a, msg)); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: same half opened: %v", alg, err)
		}
		if _, err := a.Open(seal(t, a, msg)); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: own reflected packet opened: %v", alg, err)
		}
		b, _ := NewSession(alg, false, key, key)
		if _, err := b.Open(seal(t, a, msg)); err != nil {
			t.Errorf("%s: opposite half: %v", alg, err)
		}
		if _, err := a.Open(seal(t, b, msg)); err != nil {
			t.Errorf("%s: opposite half back: %v", alg, err)
		}
	}
}

// The packet layout and nonce construction, checked against a raw AEAD.
func TestNonceLayout(t *testing.T) {
	for _, alg := range suites {
		for _, half := range []bool{false, true} {
			key := randBytes(t, alg.KeyLen())
			s, err := NewSession(alg, half, key, key)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := newCipher(alg, key)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("\x00some body")
			var prev uint64
			for i := 0; i < 3; i++ {
				pkt := seal(t, s, msg)
				if pkt[0] != 0 {
					t.Fatalf("key id %d", pkt[0])
				}
				if pkt[1] != 0 {
					t.Fatalf("nonce byte 5 = %#x, want 0 for a fresh key", pkt[1])
				}
				ctr := uint64(0)
				for _, c := range pkt[1:HeaderLen] {
					ctr = ctr<<8 | uint64(c)
				}
				if i > 0 && ctr != prev+1 {
					t.Fatalf("counter %d after %d", ctr, prev)
				}
				prev = ctr
				nonce := make([]byte, 12)
				if half {
					nonce[0] = 0x80
				}
				copy(nonce[5:], pkt[1:HeaderLen])
				plain, err := raw.Open(nil, nonce, pkt[HeaderLen:], nil)
				if err != nil {
					t.Fatalf("%s half=%v: raw open: %v", alg, half, err)
				}
				if !bytes.Equal(plain, msg) {
					t.Fatal("raw plaintext differs")
				}
				if slot, c, err := ParseHeader(pkt); err != nil || slot != 0 || uint64(c) != ctr {
					t.Fatalf("ParseHeader = %d %d %v", slot, c, err)
				}
			}
		}
	}
	if _, _, err := ParseHeader(make([]byte, Overhead-1)); !errors.Is(err, ErrShort) {
		t.Fatalf("ParseHeader short: %v", err)
	}
}

func TestSealBufferErrors(t *testing.T) {
	a, _ := pair(t, AES128)
	if _, err := a.Seal(make([]byte, HeaderLen+10, HeaderLen+10+TagLen-1), 10); !errors.Is(err, ErrBuffer) {
		t.Errorf("no tag room: %v", err)
	}
	if _, err := a.Seal(make([]byte, 64), -1); !errors.Is(err, ErrBuffer) {
		t.Errorf("negative n: %v", err)
	}
	if _, err := a.Seal(make([]byte, 4), 0); !errors.Is(err, ErrBuffer) {
		t.Errorf("no header room: %v", err)
	}
	if _, err := a.SealTo(make([]byte, 10+Overhead-1), make([]byte, 10)); !errors.Is(err, ErrBuffer) {
		t.Errorf("SealTo small dst: %v", err)
	}
	_, b := pair(t, AES128)
	if _, err := b.OpenTo(make([]byte, 3), make([]byte, Overhead+4)); !errors.Is(err, ErrBuffer) {
		t.Errorf("OpenTo small dst: %v", err)
	}
	p, _ := NewSession(Plain, false, nil, nil)
	if _, err := p.SealTo(make([]byte, 2), []byte("abc")); !errors.Is(err, ErrBuffer) {
		t.Errorf("plain SealTo small dst: %v", err)
	}
	if _, err := p.Seal(make([]byte, HeaderLen+2), 3); !errors.Is(err, ErrBuffer) {
		t.Errorf("plain Seal beyond cap: %v", err)
	}
}

func TestOutOfPlace(t *testing.T) {
	for _, alg := range append([]Algorithm{Plain}, suites...) {
		key := randBytes(t, 32)
		a, _ := NewSession(alg, true, key, key)
		b, _ := NewSession(alg, false, key, key)
		msg := randBytes(t, 300)
		dst := make([]byte, 2048)
		pkt, err := a.SealTo(dst[100:], msg)
		if err != nil {
			t.Fatal(err)
		}
		wantLen := len(msg) + Overhead
		if alg == Plain {
			wantLen = len(msg)
		}
		if len(pkt) != wantLen || &pkt[0] != &dst[100] {
			t.Fatalf("%s: SealTo packet %d bytes at wrong place", alg, len(pkt))
		}
		out := make([]byte, 400)
		plain, err := b.OpenTo(out, pkt)
		if err != nil || !bytes.Equal(plain, msg) || &plain[0] != &out[0] {
			t.Fatalf("%s: OpenTo: %v", alg, err)
		}
		if alg == Plain {
			continue
		}
		// Exact aliasing is Seal/Open in place.
		buf := make([]byte, HeaderLen+len(msg)+TagLen)
		copy(buf[HeaderLen:], msg)
		pkt, err = a.SealTo(buf, buf[HeaderLen:HeaderLen+len(msg)])
		if err != nil {
			t.Fatal(err)
		}
		plain, err = b.OpenTo(pkt[HeaderLen:], pkt)
		if err != nil || !bytes.Equal(plain, msg) {
			t.Fatalf("%s: aliased round trip: %v", alg, err)
		}
	}
}

func TestSeparateDirectionKeys(t *testing.T) {
	for _, alg := range suites {
		k1, k2 := randBytes(t, 32), randBytes(t, 32)
		a, _ := NewSession(alg, true, k1, k2)
		b, _ := NewSession(alg, false, k2, k1)
		msg := []byte("\x00x")
		if _, err := b.Open(seal(t, a, msg)); err != nil {
			t.Errorf("%s a->b: %v", alg, err)
		}
		if _, err := a.Open(seal(t, b, msg)); err != nil {
			t.Errorf("%s b->a: %v", alg, err)
		}
		// A VpnCloud-mode peer with only k1 cannot read b's k2 traffic.
		c, _ := NewSession(alg, true, k1, k1)
		if _, err := c.Open(seal(t, b, msg)); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: wrong direction key opened: %v", alg, err)
		}
	}
}

func TestCounterExhaustion(t *testing.T) {
	a, b := pair(t, ChaCha20)
	a.slots[0].Load().ctr.Store(uint64(MaxCounter) - 1)
	pkt := seal(t, a, []byte{0})
	if _, c, _ := ParseHeader(pkt); c != MaxCounter {
		t.Fatalf("last counter %d", c)
	}
	if _, err := b.Open(pkt); err != nil {
		t.Fatalf("last counter packet: %v", err)
	}
	buf := make([]byte, 64)
	if _, err := a.Seal(buf, 1); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("past last counter: %v", err)
	}
	if _, err := a.SealTo(buf, []byte{1}); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("SealTo past last counter: %v", err)
	}
	if _, err := a.Reserve(1); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("Reserve past last counter: %v", err)
	}
	// A rotated key starts afresh.
	k := randBytes(t, 32)
	if err := a.Install(1, k, k, true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Seal(buf, 1); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

// Authenticate does not touch the window; Accept does, once per counter.
func TestAuthenticateAccept(t *testing.T) {
	for _, alg := range suites {
		a, b := pair(t, alg)
		pkt := seal(t, a, []byte("\x00abc"))
		p1, t1, err := b.Authenticate(append([]byte(nil), pkt...))
		if err != nil || string(p1) != "\x00abc" {
			t.Fatal(err)
		}
		_, t2, err := b.Authenticate(append([]byte(nil), pkt...))
		if err != nil {
			t.Fatalf("second authenticate: %v", err)
		}
		if _, c, _ := ParseHeader(pkt); t1.Counter() != c {
			t.Fatalf("ticket counter %d, header %d", t1.Counter(), c)
		}
		if err := b.Accept(t1); err != nil {
			t.Fatal(err)
		}
		if err := b.Accept(t2); !errors.Is(err, ErrReplay) {
			t.Fatalf("second accept: %v", err)
		}
		if _, _, err := b.Authenticate(pkt[:Overhead-1]); !errors.Is(err, ErrShort) {
			t.Fatalf("short: %v", err)
		}
		bad := append([]byte(nil), pkt...)
		bad[len(bad)-1] ^= 1
		if _, tk, err := b.Authenticate(bad); !errors.Is(err, ErrAuth) || tk != (Ticket{}) {
			t.Fatalf("tampered: %v", err)
		}
		out := make([]byte, 64)
		if _, _, err := b.AuthenticateTo(out, pkt); err != nil {
			t.Fatalf("AuthenticateTo of an accepted packet must still authenticate: %v", err)
		}
		if _, err := b.OpenTo(out, pkt); !errors.Is(err, ErrReplay) {
			t.Fatalf("OpenTo replay: %v", err)
		}
	}
	p, _ := NewSession(Plain, false, nil, nil)
	pl, tk, err := p.Authenticate([]byte{2})
	if err != nil || len(pl) != 1 || p.Accept(tk) != nil {
		t.Fatalf("plain authenticate: %v", err)
	}
	if _, _, err := p.Authenticate(nil); !errors.Is(err, ErrShort) {
		t.Fatalf("plain empty: %v", err)
	}
}

// AcceptTickets gives the verdicts Accept would, ticket by ticket in
// order: duplicates within the batch and of earlier packets are rejected,
// tickets of two keys interleave, and zero tickets pass.
func TestAcceptTickets(t *testing.T) {
	a, b := pair(t, AES128)
	c, d := pair(t, ChaCha20) // another key (another peer)
	p1 := seal(t, a, []byte("\x00one"))
	p2 := seal(t, a, []byte("\x00two"))
	q1 := seal(t, c, []byte("\x00uno"))
	auth := func(s *Session, pkt []byte) Ticket {
		t.Helper()
		_, tk, err := s.Authenticate(append([]byte(nil), pkt...))
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	if err := b.Accept(auth(b, p2)); err != nil { // p2 seen before the batch
		t.Fatal(err)
	}
	ts := []Ticket{auth(b, p1), auth(d, q1), {}, auth(b, p1), auth(b, p2), auth(d, q1)}
	ok := make([]bool, len(ts))
	AcceptTickets(ts, ok)
	if want := []bool{true, true, true, false, false, false}; !reflect.DeepEqual(ok, want) {
		t.Fatalf("verdicts %v, want %v", ok, want)
	}
	if a := testing.AllocsPerRun(100, func() { AcceptTickets(ts, ok) }); a != 0 {
		t.Fatalf("%v allocations", a)
	}
}
