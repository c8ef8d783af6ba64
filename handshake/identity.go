package handshake

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"

	"crypto/sha256"
	"golang.org/x/crypto/pbkdf2"
)

// passwordSalt is VpnCloud's fixed PBKDF2 salt for password-derived keys.
const passwordSalt = "vpncloudVPNCLOUDvpncl0udVpnCloud"

// passwordIterations is VpnCloud's PBKDF2-HMAC-SHA256 iteration count.
const passwordIterations = 4096

// PublicKey is an Ed25519 public key naming a node's identity.
type PublicKey [ed25519.PublicKeySize]byte

// String returns the key in VpnCloud's base62 form.
func (k PublicKey) String() string { return ToBase62(k[:]) }

// Identity is a node's Ed25519 key pair. It is immutable after creation
// and safe for concurrent use.
type Identity struct {
	seed [ed25519.SeedSize]byte
	priv ed25519.PrivateKey
	pub  PublicKey
}

func identityFromSeed(seed []byte) *Identity {
	id := &Identity{}
	copy(id.seed[:], seed)
	id.priv = ed25519.NewKeyFromSeed(id.seed[:])
	copy(id.pub[:], id.priv.Public().(ed25519.PublicKey))
	return id
}

// IdentityFromPassword derives the key pair VpnCloud derives from a
// password: PBKDF2-HMAC-SHA256 with VpnCloud's salt, 4096 iterations, as the
// 32-byte Ed25519 seed.
func IdentityFromPassword(pw string) *Identity {
	seed := pbkdf2.Key([]byte(pw), []byte(passwordSalt), passwordIterations, ed25519.SeedSize, sha256.New)
	return identityFromSeed(seed)
}

// GenerateIdentity creates a random key pair from r (crypto/rand if nil).
func GenerateIdentity(r io.Reader) (*Identity, error) {
	if r == nil {
		r = rand.Reader
	}
	var seed [ed25519.SeedSize]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, fmt.Errorf("handshake.GenerateIdentity: %w: %w", ErrRandom, err)
	}
	return identityFromSeed(seed[:]), nil
}

// decodeKey32 decodes a base62 key into 32 bytes. Because base62 drops
// leading zero bytes, shorter results are left-padded with zeros (VpnCloud
// rejects such keys; accepting them is strictly more lenient).
func decodeKey32(s string) ([32]byte, error) {
	var out [32]byte
	b, err := FromBase62(s)
	if err != nil {
		return out, err
	}
	if len(b) > 32 || s == "" {
		return out, ErrKeyLength
	}
	copy(out[32-len(b):], b)
	return out, nil
}

// ParsePrivateKey parses a base62 Ed25519 seed (VpnCloud's private-key form).
func ParsePrivateKey(s string) (*Identity, error) {
	seed, err := decodeKey32(s)
	if err != nil {
		return nil, fmt.Errorf("handshake.ParsePrivateKey: %w", err)
	}
	return identityFromSeed(seed[:]), nil
}

// ParsePublicKey parses a base62 Ed25519 public key.
func ParsePublicKey(s string) (PublicKey, error) {
	k, err := decodeKey32(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("handshake.ParsePublicKey: %w", err)
	}
	return PublicKey(k), nil
}

// ParseKeyPair parses a private and public key and checks that they belong
// together.
func ParseKeyPair(priv, pub string) (*Identity, error) {
	id, err := ParsePrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("handshake.ParseKeyPair: %w", err)
	}
	pk, err := ParsePublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("handshake.ParseKeyPair: %w", err)
	}
	if subtle.ConstantTimeCompare(pk[:], id.pub[:]) != 1 {
		return nil, fmt.Errorf("handshake.ParseKeyPair: %w", ErrKeyMismatch)
	}
	return id, nil
}

// PrivateKeyString returns the seed in VpnCloud's base62 private-key form.
func (id *Identity) PrivateKeyString() string { return ToBase62(id.seed[:]) }

// Public returns the identity's public key.
func (id *Identity) Public() PublicKey { return id.pub }

// sign returns the Ed25519 signature of msg.
func (id *Identity) sign(msg []byte) []byte { return ed25519.Sign(id.priv, msg) }

// GenKey returns exactly the two keys `vpncloud genkey [--password PW]`
// prints: with usePassword the PBKDF2-derived pair, otherwise a random seed
// read from r (crypto/rand if nil).
func GenKey(password string, usePassword bool, r io.Reader) (priv, pub string, err error) {
	var id *Identity
	if usePassword {
		id = IdentityFromPassword(password)
	} else if id, err = GenerateIdentity(r); err != nil {
		return "", "", fmt.Errorf("handshake.GenKey: %w", err)
	}
	return id.PrivateKeyString(), id.Public().String(), nil
}
