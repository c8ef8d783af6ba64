package vgcm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"
)

func needSupport(t testing.TB) {
	t.Helper()
	if !Supported() {
		// Not a skip: the package is unused where unsupported, and this
		// machine's CI has the instructions.
		if _, err := New(make([]byte, 16)); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("New without support: %v, want ErrUnsupported", err)
		}
		t.Log("processor without VAES/VPCLMULQDQ: only the fallback is checked")
		return
	}
}

func stdGCM(t testing.TB, key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestKnownAnswers checks the GCM spec's test cases (McGrew and Viega,
// "The Galois/Counter Mode of Operation", test cases 2-4, 14-16 with
// 96-bit nonces) for AES-128 and AES-256.
func TestKnownAnswers(t *testing.T) {
	if !Supported() {
		needSupport(t)
		return
	}
	cases := []struct{ key, nonce, plain, ad, out string }{
		{"00000000000000000000000000000000", "000000000000000000000000", "", "",
			"58e2fccefa7e3061367f1d57a4e7455a"},
		{"00000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "",
			"0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"},
		{"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
			"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255", "",
			"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985" +
				"4d5c2af327cd64a62cf35abd2ba6fab4"},
		{"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
			"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
			"feedfacedeadbeeffeedfacedeadbeefabaddad2",
			"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091" +
				"5bc94fbc3221a5db94fae95ae7121a47"},
		{"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "",
			"530f8afbc74536b9a963b4f1c4cb738b"},
		{"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "",
			"cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"},
		{"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
			"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255", "",
			"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad" +
				"b094dac5d93471bdec1a502270e3cc6c"},
	}
	for i, c := range cases {
		key, _ := hex.DecodeString(c.key)
		nonce, _ := hex.DecodeString(c.nonce)
		plain, _ := hex.DecodeString(c.plain)
		ad, _ := hex.DecodeString(c.ad)
		g, err := New(key)
		if err != nil {
			t.Fatal(err)
		}
		got := g.Seal(nil, nonce, plain, ad)
		if hex.EncodeToString(got) != c.out {
			t.Fatalf("case %d: sealed\n%x\nwant\n%s", i, got, c.out)
		}
		back, err := g.Open(nil, nonce, got, ad)
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("case %d: open: %v", i, err)
		}
	}
}

// TestAgainstStdlib compares with crypto/cipher's GCM over random keys,
// nonces, additional data and every length up to 600 bytes, plus the
// lengths the data plane uses, sealing and opening into fresh buffers and
// in place.
func TestAgainstStdlib(t *testing.T) {
	if !Supported() {
		needSupport(t)
		return
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	lengths := []int{1400, 1441, 1500, 8192, 9000, 65535}
	for n := 0; n <= 600; n++ {
		lengths = append(lengths, n)
	}
	for _, keyLen := range []int{16, 32} {
		for i, n := range lengths {
			key := make([]byte, keyLen)
			fill(key)
			g, err := New(key)
			if err != nil {
				t.Fatal(err)
			}
			ref := stdGCM(t, key)
			nonce := make([]byte, NonceSize)
			fill(nonce)
			plain := make([]byte, n)
			fill(plain)
			ad := make([]byte, []int{0, 0, 8, 13, 16, 40}[i%6])
			fill(ad)
			want := ref.Seal(nil, nonce, plain, ad)
			got := g.Seal(nil, nonce, plain, ad)
			if !bytes.Equal(got, want) {
				t.Fatalf("AES-%d, %d bytes, ad %d: sealed differs from crypto/cipher", keyLen*8, n, len(ad))
			}
			// In place, with a prefix in dst (the data plane's layout).
			buf := make([]byte, 8, 8+n+TagSize)
			buf = append(buf, plain...)
			sealed := g.Seal(buf[:8], nonce, buf[8:], ad)
			if !bytes.Equal(sealed[8:], want) {
				t.Fatalf("AES-%d, %d bytes: in-place seal differs", keyLen*8, n)
			}
			opened, err := g.Open(sealed[8:8], nonce, sealed[8:], ad)
			if err != nil || !bytes.Equal(opened, plain) {
				t.Fatalf("AES-%d, %d bytes: in-place open: %v", keyLen*8, n, err)
			}
			// Any flipped bit fails, and the output is cleared.
			bad := append([]byte(nil), want...)
			bad[rng.IntN(len(bad))] ^= 1 << rng.IntN(8)
			dst := make([]byte, 0, n)
			if _, err := g.Open(dst, nonce, bad, ad); !errors.Is(err, ErrOpen) {
				t.Fatalf("AES-%d, %d bytes: tampered message opened: %v", keyLen*8, n, err)
			}
			if n > 0 && !bytes.Equal(dst[:n], make([]byte, n)) {
				t.Fatalf("AES-%d, %d bytes: output not cleared after a failed open", keyLen*8, n)
			}
			if len(ad) > 0 {
				if _, err := g.Open(nil, nonce, want, ad[1:]); !errors.Is(err, ErrOpen) {
					t.Fatalf("AES-%d, %d bytes: wrong additional data accepted", keyLen*8, n)
				}
			}
		}
	}
}

func TestErrors(t *testing.T) {
	if !Supported() {
		needSupport(t)
		return
	}
	if _, err := New(make([]byte, 24)); !errors.Is(err, ErrKeySize) {
		t.Fatalf("24-byte key: %v, want ErrKeySize", err)
	}
	g, err := New(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Open(nil, make([]byte, 12), make([]byte, 15), nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("short ciphertext: %v", err)
	}
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s did not panic", what)
			}
		}()
		f()
	}
	mustPanic("short nonce", func() { g.Seal(nil, make([]byte, 8), nil, nil) })
	buf := make([]byte, 64)
	mustPanic("shifted overlap", func() { g.Seal(buf[1:1], make([]byte, 12), buf[:32], nil) })
}

func TestSealOpenDoNotAllocate(t *testing.T) {
	if !Supported() {
		needSupport(t)
		return
	}
	g, _ := New(make([]byte, 16))
	nonce := make([]byte, 12)
	buf := make([]byte, 1400+TagSize)
	if a := testing.AllocsPerRun(100, func() {
		out := g.Seal(buf[:0], nonce, buf[:1400], nil)
		if _, err := g.Open(out[:0], nonce, out, nil); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("%v allocations per seal and open", a)
	}
}

func benchAEAD(b *testing.B, name string, mk func([]byte) cipher.AEAD) {
	for _, keyLen := range []int{16, 32} {
		for _, n := range []int{64, 1400, 9000} {
			b.Run(name+"/AES"+map[int]string{16: "128", 32: "256"}[keyLen]+"/"+itoa(n), func(b *testing.B) {
				a := mk(make([]byte, keyLen))
				nonce := make([]byte, 12)
				buf := make([]byte, n+TagSize)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					out := a.Seal(buf[:0], nonce, buf[:n], nil)
					if _, err := a.Open(out[:0], nonce, out, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func itoa(n int) string {
	return string(appendInt(nil, n))
}

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// BenchmarkSealOpen seals and opens one message, with this package and
// with crypto/cipher's GCM side by side.
func BenchmarkSealOpen(b *testing.B) {
	if Supported() {
		benchAEAD(b, "vgcm", func(k []byte) cipher.AEAD {
			g, err := New(k)
			if err != nil {
				b.Fatal(err)
			}
			return g
		})
	}
	benchAEAD(b, "stdlib", func(k []byte) cipher.AEAD { return stdGCM(b, k) })
}

// FuzzAgainstStdlib seals and opens arbitrary messages with arbitrary
// keys (keyIn padded or cut to 16 or 32 bytes), nonces (likewise, 12
// bytes) and additional data, with this package and crypto/cipher.
func FuzzAgainstStdlib(f *testing.F) {
	f.Add([]byte("k"), false, []byte("n"), []byte("hello"), []byte{})
	f.Add([]byte("key"), true, []byte{}, make([]byte, 1400), []byte("ad"))
	f.Fuzz(func(t *testing.T, keyIn []byte, aes256 bool, nonceIn, plain, ad []byte) {
		if !Supported() {
			return
		}
		key := make([]byte, 16)
		if aes256 {
			key = make([]byte, 32)
		}
		copy(key, keyIn)
		nonce := make([]byte, NonceSize)
		copy(nonce, nonceIn)
		g, err := New(key)
		if err != nil {
			t.Fatal(err)
		}
		want := stdGCM(t, key).Seal(nil, nonce, plain, ad)
		got := g.Seal(nil, nonce, plain, ad)
		if !bytes.Equal(got, want) {
			t.Fatalf("sealed %x, crypto/cipher %x", got, want)
		}
		back, err := g.Open(nil, nonce, want, ad)
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("open: %v", err)
		}
	})
}
