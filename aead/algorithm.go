package aead

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/peercloud/peercloud/aead/internal/vgcm"
)

// Algorithm is a cipher suite, numbered by its VpnCloud wire id (the id in
// the handshake's algorithm list).
type Algorithm uint8

// The cipher suites of VpnCloud 2.3.0, by wire id.
const (
	Plain    Algorithm = 0 // no encryption: packet = type byte + body
	AES128   Algorithm = 1 // AES-128-GCM
	AES256   Algorithm = 2 // AES-256-GCM
	ChaCha20 Algorithm = 3 // ChaCha20-Poly1305
)

// Framing sizes of an encrypted packet.
const (
	HeaderLen = 8                  // key id + nonce bytes 5..11
	TagLen    = 16                 // AEAD tag
	Overhead  = HeaderLen + TagLen // bytes an encrypted packet adds
	NonceLen  = 12                 // full AEAD nonce
	nonceWire = NonceLen - 5       // nonce bytes carried in the packet
	maxKeyLen = chacha20poly1305.KeySize
)

// DefaultAlgorithms is what an empty algorithm list means (VpnCloud's
// DEFAULT_ALGORITHMS).
var DefaultAlgorithms = []Algorithm{AES128, AES256, ChaCha20}

// KeyLen is the key length in bytes: 0, 16, 32, 32; 0 for unknown ids.
func (a Algorithm) KeyLen() int {
	switch a {
	case AES128:
		return 16
	case AES256, ChaCha20:
		return 32
	}
	return 0
}

// Valid reports whether a is one of the four known suites.
func (a Algorithm) Valid() bool { return a <= ChaCha20 }

// String is VpnCloud's algorithm_name: "PLAIN", "AES128", "AES256",
// "CHACHA20"; unknown ids print as "Algorithm(n)".
func (a Algorithm) String() string {
	switch a {
	case Plain:
		return "PLAIN"
	case AES128:
		return "AES128"
	case AES256:
		return "AES256"
	case ChaCha20:
		return "CHACHA20"
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// ParseAlgorithms parses VpnCloud's config names, case-insensitively:
// UNENCRYPTED|NONE|PLAIN (sets allowPlain), AES128|AES128_GCM|AES_128|AES_128_GCM,
// AES256|AES256_GCM|AES_256|AES_256_GCM, CHACHA|CHACHA20|CHACHA20_POLY1305.
// Empty input yields DefaultAlgorithms and allowPlain=false. Duplicates are
// kept in order, as VpnCloud does. An unknown name is an error naming it.
func ParseAlgorithms(names []string) (algs []Algorithm, allowPlain bool, err error) {
	if len(names) == 0 {
		return append([]Algorithm(nil), DefaultAlgorithms...), false, nil
	}
	algs = make([]Algorithm, 0, len(names))
	for _, name := range names {
		switch strings.ToUpper(name) {
		case "UNENCRYPTED", "NONE", "PLAIN":
			allowPlain = true
		case "AES128", "AES128_GCM", "AES_128", "AES_128_GCM":
			algs = append(algs, AES128)
		case "AES256", "AES256_GCM", "AES_256", "AES_256_GCM":
			algs = append(algs, AES256)
		case "CHACHA", "CHACHA20", "CHACHA20_POLY1305":
			algs = append(algs, ChaCha20)
		default:
			return nil, false, fmt.Errorf("aead.ParseAlgorithms %q: %w", name, ErrAlgorithm)
		}
	}
	return algs, allowPlain, nil
}

// useVGCM selects the VAES/VPCLMULQDQ AES-GCM (aead/internal/vgcm) where
// the processor has it, unless PEERCLOUD_AESGCM=stdlib asks for the
// standard library's (which uses 128-bit AES-NI and PCLMULQDQ). Both
// produce the same bytes; vgcm seals and opens a 1400-byte packet in
// about half the time.
var useVGCM = vgcm.Supported() && os.Getenv("PEERCLOUD_AESGCM") != "stdlib"

// AESGCMImplementation names the AES-GCM code in use: "vaes" or "stdlib".
func AESGCMImplementation() string {
	if useVGCM {
		return "vaes"
	}
	return "stdlib"
}

// newCipher builds the AEAD for a with the first KeyLen bytes of key.
func newCipher(a Algorithm, key []byte) (cipher.AEAD, error) {
	n := a.KeyLen()
	if len(key) < n {
		return nil, fmt.Errorf("%s key of %d bytes, need %d: %w", a, len(key), n, ErrKeyLen)
	}
	switch a {
	case AES128, AES256:
		if useVGCM {
			g, err := vgcm.New(key[:n])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a, err)
			}
			return g, nil
		}
		b, err := aes.NewCipher(key[:n])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		return g, nil
	case ChaCha20:
		c, err := chacha20poly1305.New(key[:n])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%s: %w", a, ErrAlgorithm)
}
