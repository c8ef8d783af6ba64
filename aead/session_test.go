package aead

import (
	"bytes"
	"crypto/rand"
	"errors"
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
