package handshake

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// peercloud's extended key schedule
//
// A peercloud node with Config.Extended adds one TLV field to its ping and
// pong, a field type (0x50) that VpnCloud 2.3.0 skips:
//
//	type 0x50, length 2: version (1) ‖ flags (bit 0: extended key schedule)
//
// Longer values are accepted (later bytes reserved). The field is inside the
// signed part, so it cannot be stripped without breaking the signature.
// When BOTH the ping and the pong carry version >= 1 with bit 0 set, the
// session keys are derived as follows instead of VpnCloud's raw X25519
// output:
//
//	transcript = "peercloud-handshake-v1"
//	           ‖ initiator signer public key (32) ‖ responder signer public key (32)
//	           ‖ initiator salted node-id hash (20) ‖ responder salted node-id hash (20)
//	           ‖ u16 len ‖ initiator ephemeral X25519 key ‖ u16 len ‖ responder ephemeral key
//	           ‖ u16 len ‖ initiator algorithm entries ‖ u16 len ‖ responder algorithm entries
//	th  = SHA-256(transcript)
//	key(dir) = HKDF-SHA256(secret = X25519 shared secret, salt = th,
//	                       info = "peercloud v1 " + dir)[:KeyLen]
//
// with dir "initiator->responder" or "responder->initiator" (the initiator is
// the ping sender). The algorithm entries are the field-4 bytes exactly as
// sent (id u8 + speed f32, whole entries). Each side seals with its own
// direction's key and opens with the other.
//
// Rotated keys (type-0x10 messages, unchanged on the wire) are derived from
// the rotation's X25519 secret the same way, bound to the session by th and
// to the rotation by its message id:
//
//	key(dir, id) = HKDF-SHA256(secret = rotation shared secret, salt = th,
//	                           info = "peercloud v1 rotate " + u64be(id) + " " + dir)[:KeyLen]
//
// so a rotated key never equals the raw key VpnCloud would use.
// When either side lacks the field, everything is VpnCloud's behaviour.
//
// Flag bit 1 (ExtFlagRelay) announces that the sender relays: it forwards
// relay messages (wire.TypeRelay) between its peers and accepts relayed ones
// (wire.TypeRelayed). It is independent of the key schedule.

// Extension is the content of peercloud's extension field.
type Extension struct {
	Version byte
	Flags   byte
}

// extensionVersion is the version peercloud announces.
const extensionVersion = 1

// Extension flag bits.
const (
	// ExtFlagKeySchedule announces the extended key schedule.
	ExtFlagKeySchedule = 0x01
	// ExtFlagRelay announces that the sender relays between its peers.
	ExtFlagRelay = 0x02
)

const (
	transcriptLabel = "peercloud-handshake-v1"
	dirInitToResp   = "initiator->responder"
	dirRespToInit   = "responder->initiator"
)

func (e *Extension) encode() []byte { return []byte{e.Version, e.Flags} }

// parseExtension returns nil for a field too short to carry version+flags.
func parseExtension(b []byte) *Extension {
	if len(b) < 2 {
		return nil
	}
	return &Extension{Version: b[0], Flags: b[1]}
}

// keySchedule reports whether e announces the extended key schedule.
func (e *Extension) keySchedule() bool {
	return e != nil && e.Version >= 1 && e.Flags&ExtFlagKeySchedule != 0
}

// relays reports whether e announces relaying.
func (e *Extension) relays() bool {
	return e != nil && e.Version >= 1 && e.Flags&ExtFlagRelay != 0
}

// handshakeSide is what the transcript needs from one side.
type handshakeSide struct {
	signer   PublicKey
	nodeHash NodeHash
	ecdh     []byte
	algs     []byte
}

func appendLV(dst, v []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
	return append(dst, v...)
}

// transcriptHash computes th over the initiator's and responder's sides.
func transcriptHash(init, resp *handshakeSide) [32]byte {
	t := []byte(transcriptLabel)
	t = append(t, init.signer[:]...)
	t = append(t, resp.signer[:]...)
	t = append(t, init.nodeHash[:]...)
	t = append(t, resp.nodeHash[:]...)
	t = appendLV(t, init.ecdh)
	t = appendLV(t, resp.ecdh)
	t = appendLV(t, init.algs)
	t = appendLV(t, resp.algs)
	return sha256.Sum256(t)
}

// deriveKey expands one key of length n with HKDF-SHA256.
func deriveKey(secret []byte, th *[32]byte, info string, n int) ([]byte, error) {
	key := make([]byte, n)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, th[:], []byte(info)), key); err != nil {
		return nil, fmt.Errorf("handshake.deriveKey: %w", err)
	}
	return key, nil
}

// directionalKeys returns (send, recv) keys for a side of the given role.
// For a rotation pass rotID > 0; the session keys use rotID 0.
func directionalKeys(secret []byte, th *[32]byte, initiator bool, rotID uint64, n int) (send, recv []byte, err error) {
	prefix := "peercloud v1 "
	if rotID > 0 {
		var id [8]byte
		binary.BigEndian.PutUint64(id[:], rotID)
		prefix += "rotate " + string(id[:]) + " "
	}
	i2r, err := deriveKey(secret, th, prefix+dirInitToResp, n)
	if err != nil {
		return nil, nil, err
	}
	r2i, err := deriveKey(secret, th, prefix+dirRespToInit, n)
	if err != nil {
		return nil, nil, err
	}
	if initiator {
		return i2r, r2i, nil
	}
	return r2i, i2r, nil
}
