package handshake

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/peercloud/peercloud/aead"
)

// InitByte is the first byte of every handshake packet on the wire.
const InitByte = 0xFF

// Stage is the stage field of an init message. The values above StagePeng
// are internal states of the machine (VpnCloud's WAITING_TO_CLOSE, CLOSING).
type Stage uint8

// Handshake stages, with VpnCloud's numbers.
const (
	StagePing           Stage = 1
	StagePong           Stage = 2
	StagePeng           Stage = 3
	stageWaitingToClose Stage = 4
	stageClosing        Stage = 5
)

// TLV field types of an init message.
const (
	fieldEnd        = 0
	fieldStage      = 1
	fieldNodeHash   = 2
	fieldECDH       = 3
	fieldAlgorithms = 4
	fieldPayload    = 5
	// fieldExtension is peercloud's extension field; VpnCloud skips it.
	fieldExtension = 0x50
)

// NodeHashLen is the length of a salted node-id hash: 4 random salt bytes
// followed by the first 16 bytes of SHA-256(salt ‖ node id).
const NodeHashLen = 20

// NodeHash is a salted node-id hash.
type NodeHash [NodeHashLen]byte

// NodeIDLen is the length of a VpnCloud node id.
const NodeIDLen = 16

// AlgoSpeed is one entry of a handshake's algorithm list: a cipher suite and
// the speed (MB/s) the sender measured for it.
type AlgoSpeed struct {
	Alg   aead.Algorithm
	Speed float32
}

// InitMessage is a parsed, signature-verified init message.
type InitMessage struct {
	Salt    [4]byte // public-key salt
	KeyHash [4]byte // first 4 bytes of SHA-256(signer key ‖ Salt)
	Stage   Stage
	// NodeHash is the sender's salted node-id hash.
	NodeHash NodeHash
	// ECDHKey is the sender's ephemeral X25519 public key (nil if absent;
	// VpnCloud accepts any length here, so it is not checked at parse time).
	ECDHKey []byte
	// HasAlgorithms reports whether an algorithm field was present.
	HasAlgorithms bool
	// Algorithms lists the known suites offered, in wire order; unknown ids
	// are dropped, id 0 (plain) sets AllowPlain instead.
	Algorithms []AlgoSpeed
	AllowPlain bool
	// HasPayload reports whether a payload field was present; Payload is its
	// content (sealed with the session, or raw when plain was negotiated).
	HasPayload bool
	Payload    []byte
	// Ext is peercloud's extension field, nil when absent.
	Ext *Extension
	// Signed is the signed part (salt through the end marker); Signature the
	// Ed25519 signature over it.
	Signed    []byte
	Signature []byte

	rawAlgorithms []byte // the algorithm entries as read, for the transcript
}

func keyHash(pk *PublicKey, salt []byte) [4]byte {
	h := sha256.New()
	h.Write(pk[:])
	h.Write(salt)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var out [4]byte
	copy(out[:], sum[:4])
	return out
}

// ParseInit parses a handshake packet (starting with InitByte), identifies
// the signing key among trusted, and verifies the signature. It returns the
// message and the signer's key. Field handling follows VpnCloud 2.3.0's
// InitMsg::read_from, including its quirks: unknown fields are skipped,
// repeated fields overwrite earlier ones, an algorithm field consumes only
// whole 5-byte entries, bytes after the signature are ignored.
func ParseInit(msg []byte, trusted []PublicKey) (*InitMessage, PublicKey, error) {
	if len(msg) == 0 || msg[0] != InitByte {
		return nil, PublicKey{}, fmt.Errorf("handshake.ParseInit: %w: not an init packet", ErrMalformed)
	}
	m, pk, err := ParseInitBody(msg[1:], trusted)
	if err != nil {
		return nil, PublicKey{}, fmt.Errorf("handshake.ParseInit: %w", err)
	}
	return m, pk, nil
}

// reader is a bounds-checked big-endian cursor.
type reader struct {
	b   []byte
	pos int
	err bool
}

func (r *reader) bytes(n int) []byte {
	if r.err || n < 0 || len(r.b)-r.pos < n {
		r.err = true
		return nil
	}
	out := r.b[r.pos : r.pos+n]
	r.pos += n
	return out
}

func (r *reader) u8() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16() int {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

// ParseInitBody is ParseInit for the message after the InitByte.
func ParseInitBody(body []byte, trusted []PublicKey) (*InitMessage, PublicKey, error) {
	r := &reader{b: body}
	m := &InitMessage{}
	copy(m.Salt[:], r.bytes(4))
	copy(m.KeyHash[:], r.bytes(4))
	if r.err {
		return nil, PublicKey{}, ErrTruncated
	}
	var candidates []PublicKey
	for i := range trusted {
		if keyHash(&trusted[i], m.Salt[:]) == m.KeyHash {
			candidates = append(candidates, trusted[i])
		}
	}
	if len(candidates) == 0 {
		return nil, PublicKey{}, ErrUntrustedKey
	}
	var haveStage, haveHash bool
	for {
		field := r.u8()
		if r.err {
			return nil, PublicKey{}, ErrTruncated
		}
		if field == fieldEnd {
			break
		}
		n := r.u16()
		switch field {
		case fieldStage:
			if n != 1 {
				return nil, PublicKey{}, fmt.Errorf("%w: stage field length %d", ErrMalformed, n)
			}
			m.Stage = Stage(r.u8())
			haveStage = true
		case fieldNodeHash:
			if n != NodeHashLen {
				return nil, PublicKey{}, fmt.Errorf("%w: node hash field length %d", ErrMalformed, n)
			}
			copy(m.NodeHash[:], r.bytes(NodeHashLen))
			haveHash = true
		case fieldECDH:
			m.ECDHKey = clone(r.bytes(n))
		case fieldPayload:
			m.Payload = clone(r.bytes(n))
			m.HasPayload = true
		case fieldAlgorithms:
			raw := r.bytes(n / 5 * 5)
			m.rawAlgorithms = clone(raw)
			m.HasAlgorithms = true
			m.AllowPlain = false
			m.Algorithms = m.Algorithms[:0]
			for i := 0; i+5 <= len(raw); i += 5 {
				speed := math.Float32frombits(binary.BigEndian.Uint32(raw[i+1:]))
				switch id := aead.Algorithm(raw[i]); id {
				case aead.Plain:
					m.AllowPlain = true
				case aead.AES128, aead.AES256, aead.ChaCha20:
					m.Algorithms = append(m.Algorithms, AlgoSpeed{id, speed})
				}
			}
		case fieldExtension:
			m.Ext = parseExtension(r.bytes(n))
		default:
			r.bytes(n)
		}
		if r.err {
			return nil, PublicKey{}, ErrTruncated
		}
	}
	signedLen := r.pos
	sigLen := int(r.u8())
	sig := r.bytes(sigLen)
	if r.err {
		return nil, PublicKey{}, ErrTruncated
	}
	m.Signed = clone(body[:signedLen])
	m.Signature = clone(sig)
	var signer PublicKey
	ok := false
	if len(sig) == ed25519.SignatureSize {
		for i := range candidates {
			if ed25519.Verify(candidates[i][:], m.Signed, sig) {
				signer, ok = candidates[i], true
				break
			}
		}
	}
	if !ok {
		return nil, PublicKey{}, ErrBadSignature
	}
	if !haveStage {
		return nil, PublicKey{}, fmt.Errorf("%w: stage", ErrMissingField)
	}
	if !haveHash {
		return nil, PublicKey{}, fmt.Errorf("%w: node id hash", ErrMissingField)
	}
	switch m.Stage {
	case StagePing, StagePong:
		if m.ECDHKey == nil {
			return nil, PublicKey{}, fmt.Errorf("%w: ecdh public key", ErrMissingField)
		}
		if !m.HasAlgorithms {
			return nil, PublicKey{}, fmt.Errorf("%w: algorithms", ErrMissingField)
		}
		if m.Stage == StagePong && !m.HasPayload {
			return nil, PublicKey{}, fmt.Errorf("%w: payload", ErrMissingField)
		}
	case StagePeng:
		if !m.HasPayload {
			return nil, PublicKey{}, fmt.Errorf("%w: payload", ErrMissingField)
		}
	default:
		return nil, PublicKey{}, fmt.Errorf("%w: invalid stage %d", ErrMalformed, m.Stage)
	}
	return m, signer, nil
}

// encodeAlgorithms writes the algorithm entries as VpnCloud does: plain
// first as id 0 with +Inf when allowed, then every suite with its speed.
func encodeAlgorithms(dst []byte, algs []AlgoSpeed, allowPlain bool) []byte {
	if allowPlain {
		dst = append(dst, byte(aead.Plain))
		dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(float32(math.Inf(1))))
	}
	for _, a := range algs {
		dst = append(dst, byte(a.Alg))
		dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(a.Speed))
	}
	return dst
}

// outMessage is an init message to be written.
type outMessage struct {
	stage    Stage
	nodeHash NodeHash
	ecdh     []byte // ping, pong
	algs     []byte // encoded algorithm entries (ping, pong)
	payload  []byte // pong, peng
	ext      *Extension
}

func appendField(dst []byte, typ byte, val []byte) []byte {
	dst = append(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(val)))
	return append(dst, val...)
}

// encode writes InitByte + the signed message. salt is 4 random bytes.
func (o *outMessage) encode(id *Identity, salt [4]byte) []byte {
	pub := id.Public()
	h := keyHash(&pub, salt[:])
	b := make([]byte, 0, 1+8+4+23+35+4+len(o.algs)+3+len(o.payload)+8+66)
	b = append(b, InitByte)
	b = append(b, salt[:]...)
	b = append(b, h[:]...)
	b = appendField(b, fieldStage, []byte{byte(o.stage)})
	b = appendField(b, fieldNodeHash, o.nodeHash[:])
	if o.stage == StagePing || o.stage == StagePong {
		b = appendField(b, fieldECDH, o.ecdh)
		b = appendField(b, fieldAlgorithms, o.algs)
	}
	if o.stage == StagePong || o.stage == StagePeng {
		b = appendField(b, fieldPayload, o.payload)
	}
	if o.ext != nil {
		b = appendField(b, fieldExtension, o.ext.encode())
	}
	b = append(b, fieldEnd)
	sig := id.sign(b[1:])
	b = append(b, byte(len(sig)))
	return append(b, sig...)
}
