package aead

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzOpen feeds arbitrary packets to every suite's Open, OpenTo and
// Authenticate: they must never panic, must only fail with the documented
// sentinels, and a packet that opens once must be rejected as a replay.
func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{0x42}, 32)
	senders := map[Algorithm]*Session{}
	for _, alg := range suites {
		s, err := NewSession(alg, true, key, key)
		if err != nil {
			f.Fatal(err)
		}
		senders[alg] = s
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(make([]byte, Overhead-1))
	f.Add(make([]byte, Overhead))
	f.Add(bytes.Repeat([]byte{0xff}, 100))
	f.Add(mustHex(f, interopAtoB))
	f.Add(mustHex(f, interopClose))
	for _, alg := range suites {
		for _, msg := range [][]byte{{}, {0}, []byte("\x00an ordinary data packet")} {
			buf := make([]byte, HeaderLen+len(msg), HeaderLen+len(msg)+TagLen)
			copy(buf[HeaderLen:], msg)
			p, err := senders[alg].Seal(buf, len(msg))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(p)
		}
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, alg := range []Algorithm{Plain, AES128, AES256, ChaCha20} {
			// Fresh receivers so that any fuzzed packet may open.
			r, err := NewSession(alg, false, key, key)
			if err != nil {
				t.Fatal(err)
			}
			_, _, _ = ParseHeader(pkt)
			out := make([]byte, len(pkt))
			_, err1 := r.OpenTo(out, pkt)
			_, tk, err2 := r.Authenticate(append([]byte(nil), pkt...))
			plain, err3 := r.Open(append([]byte(nil), pkt...))
			for _, err := range []error{err1, err2, err3} {
				if err != nil && !errors.Is(err, ErrShort) && !errors.Is(err, ErrAuth) &&
					!errors.Is(err, ErrNoKey) && !errors.Is(err, ErrReplay) {
					t.Fatalf("%s: undocumented error %v", alg, err)
				}
			}
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s: OpenTo %v but Authenticate %v", alg, err1, err2)
			}
			if alg == Plain {
				if err3 == nil && !bytes.Equal(plain, pkt) {
					t.Fatal("plain open changed the packet")
				}
				continue
			}
			if err2 == nil && r.Accept(tk) == nil {
				t.Fatalf("%s: OpenTo accepted the counter, a second Accept must not", alg)
			}
			if err3 == nil {
				t.Fatalf("%s: third open of the same packet accepted", alg)
			}
		}
	})
}
