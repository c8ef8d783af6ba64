package aead

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/peercloud/peercloud/aead/internal/vgcm"
)

func TestAlgorithmKeyLenAndString(t *testing.T) {
	cases := []struct {
		a    Algorithm
		len  int
		name string
	}{
		{Plain, 0, "PLAIN"}, {AES128, 16, "AES128"}, {AES256, 32, "AES256"}, {ChaCha20, 32, "CHACHA20"},
		{Algorithm(4), 0, "Algorithm(4)"}, {Algorithm(255), 0, "Algorithm(255)"},
	}
	for _, c := range cases {
		if got := c.a.KeyLen(); got != c.len {
			t.Errorf("%d.KeyLen() = %d, want %d", uint8(c.a), got, c.len)
		}
		if got := c.a.String(); got != c.name {
			t.Errorf("%d.String() = %q, want %q", uint8(c.a), got, c.name)
		}
		if got, want := c.a.Valid(), c.a <= 3; got != want {
			t.Errorf("%d.Valid() = %v", uint8(c.a), got)
		}
	}
}

func TestParseAlgorithms(t *testing.T) {
	cases := []struct {
		in    []string
		algs  []Algorithm
		plain bool
	}{
		{nil, []Algorithm{AES128, AES256, ChaCha20}, false},
		{[]string{}, []Algorithm{AES128, AES256, ChaCha20}, false},
		{[]string{"plain"}, []Algorithm{}, true},
		{[]string{"UNENCRYPTED", "none"}, []Algorithm{}, true},
		{[]string{"aes128", "AES128_GCM", "Aes_128", "aes_128_gcm"}, []Algorithm{AES128, AES128, AES128, AES128}, false},
		{[]string{"AES256", "aes256_gcm", "AES_256", "AES_256_GCM"}, []Algorithm{AES256, AES256, AES256, AES256}, false},
		{[]string{"chacha", "ChaCha20", "CHACHA20_POLY1305"}, []Algorithm{ChaCha20, ChaCha20, ChaCha20}, false},
		{[]string{"chacha20", "plain", "aes256"}, []Algorithm{ChaCha20, AES256}, true},
	}
	for _, c := range cases {
		algs, plain, err := ParseAlgorithms(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(algs, c.algs) || plain != c.plain {
			t.Errorf("%q = %v, %v; want %v, %v", c.in, algs, plain, c.algs, c.plain)
		}
	}
	// The default list is a copy: changing it must not change the next result.
	d, _, _ := ParseAlgorithms(nil)
	d[0] = Plain
	if d2, _, _ := ParseAlgorithms(nil); d2[0] != AES128 {
		t.Fatal("default list aliased")
	}
	for _, bad := range [][]string{{"aes512"}, {"aes128", "rot13"}, {""}, {"aes-128"}} {
		_, _, err := ParseAlgorithms(bad)
		if !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%q: err %v, want ErrAlgorithm", bad, err)
			continue
		}
		if name := bad[len(bad)-1]; !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("%q: error %q does not name %q", bad, err, name)
		}
	}
}

func TestNewSessionErrors(t *testing.T) {
	if _, err := NewSession(Algorithm(9), false, nil, nil); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("unknown algorithm: %v", err)
	}
	for _, alg := range suites {
		short := make([]byte, alg.KeyLen()-1)
		full := make([]byte, alg.KeyLen())
		if _, err := NewSession(alg, false, short, full); !errors.Is(err, ErrKeyLen) {
			t.Errorf("%s short send key: %v", alg, err)
		}
		if _, err := NewSession(alg, false, full, short); !errors.Is(err, ErrKeyLen) {
			t.Errorf("%s short recv key: %v", alg, err)
		}
		s, err := NewSession(alg, true, full, full)
		if err != nil {
			t.Fatal(err)
		}
		if s.Algorithm() != alg || !s.NonceHalf() || s.SendSlot() != 0 {
			t.Errorf("%s: accessors %v %v %v", alg, s.Algorithm(), s.NonceHalf(), s.SendSlot())
		}
		if err := s.Install(1, short, short, true); !errors.Is(err, ErrKeyLen) || s.SendSlot() != 0 || s.HasKey(1) {
			t.Errorf("%s: failed install changed state or err %v", alg, err)
		}
	}
}

// Only the first KeyLen bytes of the handshake's key material are used.
func TestKeyTruncation(t *testing.T) {
	for _, alg := range suites {
		long := randBytes(t, 64)
		a, err := NewSession(alg, true, long, long)
		if err != nil {
			t.Fatal(err)
		}
		exact := append([]byte(nil), long[:alg.KeyLen()]...)
		b, err := NewSession(alg, false, exact, exact)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(seal(t, a, []byte("\x00payload"))); err != nil {
			t.Errorf("%s: truncated key differs: %v", alg, err)
		}
	}
}

func TestMeasureSpeed(t *testing.T) {
	for _, alg := range []Algorithm{Plain, AES128, AES256, ChaCha20} {
		speed := MeasureSpeed(alg, 20*time.Millisecond)
		if speed < 10 {
			t.Errorf("%s: %.1f MB/s, expected > 10 (VpnCloud's own sanity bound)", alg, speed)
		}
		t.Logf("%s: %.0f MB/s", alg, speed)
	}
	if s := MeasureSpeed(Algorithm(7), time.Millisecond); s != 0 {
		t.Errorf("invalid algorithm speed %v", s)
	}
}

// The VAES AES-GCM and the standard library's are interchangeable: a
// session built on one opens what a session built on the other sealed, both
// ways, and PEERCLOUD_AESGCM=stdlib (useVGCM false) selects the latter.
func TestAESGCMImplementationsInteroperate(t *testing.T) {
	if !vgcm.Supported() {
		if AESGCMImplementation() != "stdlib" {
			t.Fatalf("no VAES here, yet the implementation is %q", AESGCMImplementation())
		}
		t.Log("no VAES/VPCLMULQDQ on this processor: only the standard library's AES-GCM runs")
		return
	}
	saved := useVGCM
	t.Cleanup(func() { useVGCM = saved })
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	for _, alg := range []Algorithm{AES128, AES256} {
		useVGCM = true
		c, err := newCipher(alg, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*vgcm.GCM); !ok || AESGCMImplementation() != "vaes" {
			t.Fatalf("%s: got %T (%s), want *vgcm.GCM", alg, c, AESGCMImplementation())
		}
		fast, _ := NewSession(alg, true, key, key)
		fastRx, _ := NewSession(alg, false, key, key)
		useVGCM = false
		c, err = newCipher(alg, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*vgcm.GCM); ok || AESGCMImplementation() != "stdlib" {
			t.Fatalf("%s: useVGCM off still gives %T", alg, c)
		}
		std, _ := NewSession(alg, true, key, key)
		stdRx, _ := NewSession(alg, false, key, key)
		for _, pair := range []struct {
			name   string
			tx, rx *Session
		}{{"vaes to stdlib", fast, stdRx}, {"stdlib to vaes", std, fastRx}} {
			for _, n := range []int{0, 1, 15, 16, 17, 1400} {
				buf := make([]byte, HeaderLen+n, HeaderLen+n+TagLen)
				for i := range buf[HeaderLen:] {
					buf[HeaderLen+i] = byte(i)
				}
				want := append([]byte(nil), buf[HeaderLen:]...)
				pkt, err := pair.tx.Seal(buf, n)
				if err != nil {
					t.Fatal(err)
				}
				got, err := pair.rx.Open(pkt)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s %s, %d bytes: %v", alg, pair.name, n, err)
				}
			}
		}
	}
}
