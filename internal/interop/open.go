package interop

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// OpenWithKey opens an encrypted VpnCloud packet (key id + 7 nonce bytes +
// ciphertext + 16-byte tag) with one key from a key log, independently of
// package aead: it tries every algorithm of the key's length (16 bytes:
// AES-128-GCM; 32: AES-256-GCM and ChaCha20-Poly1305) and both senders'
// nonce halves (first nonce byte 0x00 or 0x80). It returns the plaintext
// (type byte + body) or an error wrapping ErrNotOpened (or ErrFrame).
func OpenWithKey(key, pkt []byte) ([]byte, error) {
	f, err := ParseFrame(pkt)
	if err != nil {
		return nil, err
	}
	if f.Handshake {
		return nil, fmt.Errorf("interop.OpenWithKey: a handshake message: %w", ErrFrame)
	}
	var aeads []cipher.AEAD
	switch len(key) {
	case 16:
		if a, err := newGCM(key); err == nil {
			aeads = append(aeads, a)
		}
	case 32:
		if a, err := newGCM(key); err == nil {
			aeads = append(aeads, a)
		}
		if a, err := chacha20poly1305.New(key); err == nil {
			aeads = append(aeads, a)
		}
	}
	var nonce [12]byte
	copy(nonce[5:], pkt[1:headerLen])
	for _, a := range aeads {
		for _, half := range []byte{0x00, 0x80} {
			nonce[0] = half
			if pt, err := a.Open(nil, nonce[:], pkt[headerLen:], nil); err == nil {
				return pt, nil
			}
		}
	}
	return nil, fmt.Errorf("interop.OpenWithKey: %d-byte key: %w", len(key), ErrNotOpened)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
