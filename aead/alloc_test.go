package aead

import "testing"

// The data path allocates nothing per packet, for every suite and variant
// (with -tags purego, x/crypto's ChaCha20-Poly1305 allocates once per
// call, and no more is allowed).
func TestZeroAllocs(t *testing.T) {
	for _, alg := range []Algorithm{Plain, AES128, AES256, ChaCha20} {
		t.Run(alg.String(), func(t *testing.T) {
			key := randBytes(t, 32)
			a, _ := NewSession(alg, true, key, key)
			b, _ := NewSession(alg, false, key, key)
			const n = 1400
			buf := make([]byte, HeaderLen+n+TagLen)
			dst := make([]byte, HeaderLen+n+TagLen)
			out := make([]byte, n+TagLen)
			perCall := 0.0
			if alg == ChaCha20 {
				perCall = pureGoChaChaAllocs
			}
			check := func(name string, f func()) {
				t.Helper()
				f() // warm up pools
				// Each check runs the cipher twice: a seal and an open,
				// or (rejections) a replayed and a tampered packet, which
				// are authenticated before they are refused.
				want := 2 * perCall
				if got := testing.AllocsPerRun(200, f); got > want {
					t.Errorf("%s: %v allocs per packet, want at most %v", name, got, want)
				}
			}
			check("Seal+Open", func() {
				p, err := a.Seal(buf, n)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := b.Open(p); err != nil {
					t.Fatal(err)
				}
			})
			check("SealTo+OpenTo", func() {
				p, err := a.SealTo(dst, buf[HeaderLen:HeaderLen+n])
				if err != nil {
					t.Fatal(err)
				}
				if _, err := b.OpenTo(out, p); err != nil {
					t.Fatal(err)
				}
			})
			check("Reserve+Seal+Authenticate+Accept", func() {
				r, err := a.Reserve(1)
				if err != nil {
					t.Fatal(err)
				}
				p, err := r.Seal(0, buf, n)
				if err != nil {
					t.Fatal(err)
				}
				_, tk, err := b.Authenticate(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Accept(tk); err != nil {
					t.Fatal(err)
				}
			})
			if alg == Plain {
				return
			}
			p, _ := a.Seal(buf, n)
			pkt := append([]byte(nil), p...)
			if _, err := b.Open(p); err != nil {
				t.Fatal(err)
			}
			check("rejections", func() {
				copy(buf, pkt)
				if _, err := b.Open(buf[:len(pkt)]); err == nil {
					t.Fatal("replay opened")
				}
				buf[HeaderLen] ^= 1
				if _, err := b.Open(buf[:len(pkt)]); err == nil {
					t.Fatal("tampered opened")
				}
				if _, err := b.Open(buf[:3]); err == nil {
					t.Fatal("short opened")
				}
			})
		})
	}
}
