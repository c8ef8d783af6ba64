package handshake

import (
	"crypto/ecdh"
	"encoding/binary"
	"fmt"
	"io"
)

// RotationMessage is the body of a type-0x10 key rotation message (after
// the type byte, decrypted): message id u64 BE, key length u8 + proposed
// X25519 public key, key length u8 (0 = none) + confirmed public key.
type RotationMessage struct {
	ID      uint64
	Propose []byte
	Confirm []byte // nil when absent
}

// ParseRotation parses a decrypted rotation message body. Like VpnCloud it
// ignores trailing bytes; unlike VpnCloud (which panics later) it rejects
// keys that are not 32-byte X25519 keys.
func ParseRotation(body []byte) (RotationMessage, error) {
	r := &reader{b: body}
	var m RotationMessage
	idb := r.bytes(8)
	m.Propose = clone(r.bytes(int(r.u8())))
	if n := int(r.u8()); n > 0 {
		m.Confirm = clone(r.bytes(n))
	}
	if r.err {
		return RotationMessage{}, fmt.Errorf("handshake.ParseRotation: %w", ErrTruncated)
	}
	m.ID = binary.BigEndian.Uint64(idb)
	if len(m.Propose) != 32 || (m.Confirm != nil && len(m.Confirm) != 32) {
		return RotationMessage{}, fmt.Errorf("handshake.ParseRotation: %w: key length", ErrMalformed)
	}
	return m, nil
}

// Append appends the wire form of m to dst.
func (m *RotationMessage) Append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, m.ID)
	dst = append(dst, byte(len(m.Propose)))
	dst = append(dst, m.Propose...)
	dst = append(dst, byte(len(m.Confirm)))
	return append(dst, m.Confirm...)
}

// rotatedKey is a key produced by the rotation: the raw X25519 secret, the
// message id naming its slot (id % 4), and whether to send with it.
type rotatedKey struct {
	secret        []byte
	id            uint64
	useForSending bool
}

type pendingKey struct {
	secret []byte
	pub    []byte
}

type confirmedKey struct {
	pub []byte
	id  uint64
}

// rotationState is VpnCloud's RotationState, turn based: every message
// carries a proposal and (but the first) the confirmation of the peer's
// previous proposal. Not safe for concurrent use.
type rotationState struct {
	rand      io.Reader
	confirmed *confirmedKey    // sent by remote, already confirmed
	pending   *pendingKey      // sent by remote, to be confirmed
	proposed  *ecdh.PrivateKey // own, proposed but not confirmed
	messageID uint64
	timeout   bool
}

func newX25519(r io.Reader) (*ecdh.PrivateKey, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	k, err := ecdh.X25519().NewPrivateKey(b[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	return k, nil
}

func x25519(priv *ecdh.PrivateKey, peer []byte) ([]byte, error) {
	pk, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: x25519 public key: %w", ErrMalformed, err)
	}
	s, err := priv.ECDH(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: x25519: %w", ErrMalformed, err)
	}
	return s, nil
}

// newRotationState starts the rotation. The starter (the handshake
// responder) proposes immediately: the returned message (id 1) must be sent.
func newRotationState(starter bool, r io.Reader) (*rotationState, *RotationMessage, error) {
	s := &rotationState{rand: r}
	if !starter {
		return s, nil, nil
	}
	k, err := newX25519(r)
	if err != nil {
		return nil, nil, err
	}
	s.proposed, s.messageID = k, 1
	return s, &RotationMessage{ID: 1, Propose: k.PublicKey().Bytes()}, nil
}

// handle processes a received message. It returns a key to install when
// the message confirmed our proposal.
func (s *rotationState) handle(m *RotationMessage) (*rotatedKey, error) {
	if m.ID <= s.messageID {
		return nil, nil
	}
	k, err := newX25519(s.rand)
	if err != nil {
		return nil, err
	}
	secret, err := x25519(k, m.Propose)
	if err != nil {
		return nil, err
	}
	var own []byte
	if m.Confirm != nil && s.proposed != nil {
		if own, err = x25519(s.proposed, m.Confirm); err != nil {
			return nil, err
		}
	}
	// Only now, with every input validated, change state.
	s.timeout = false
	s.pending = &pendingKey{secret: secret, pub: k.PublicKey().Bytes()}
	if own != nil {
		s.proposed = nil
		return &rotatedKey{secret: own, id: m.ID, useForSending: true}, nil
	}
	return nil, nil
}

// cycle is one rotation turn (every 120 s). It may return a message to send
// and a key to install (for receiving only).
func (s *rotationState) cycle() (*RotationMessage, *rotatedKey, error) {
	if s.proposed != nil {
		// Our proposal is unconfirmed: after one silent turn, resend.
		if !s.timeout {
			s.timeout = true
			return nil, nil, nil
		}
		pub := s.proposed.PublicKey().Bytes()
		if s.confirmed != nil {
			return &RotationMessage{ID: s.confirmed.id, Propose: pub, Confirm: s.confirmed.pub}, nil, nil
		}
		return &RotationMessage{ID: 1, Propose: pub}, nil, nil
	}
	if s.pending == nil {
		return nil, nil, nil // still waiting for message 1; the peer retries
	}
	k, err := newX25519(s.rand)
	if err != nil {
		return nil, nil, err
	}
	p := s.pending
	s.pending = nil
	s.messageID += 2
	s.proposed = k
	s.confirmed = &confirmedKey{pub: p.pub, id: s.messageID}
	msg := &RotationMessage{ID: s.messageID, Propose: k.PublicKey().Bytes(), Confirm: p.pub}
	return msg, &rotatedKey{secret: p.secret, id: s.messageID, useForSending: false}, nil
}
