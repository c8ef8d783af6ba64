// Package wire owns the bodies of VpnCloud 2.3.0's messages: the message
// type bytes, the node id, VpnCloud's Address and Range (a "claim") types with
// their text and wire forms, and the node-info message (peer list, claims,
// peer timeout, own addresses), byte for byte as VpnCloud 2.3.0 writes and
// reads them (src/messages.rs, src/types.rs).
//
// Framing is not this package's business: the outer packet (handshake byte,
// key id, nonce, ciphertext, tag) belongs to package aead and package
// handshake. Inside an established session every message is one type byte
// followed by its body; AppendNodeInfo and DecodeNodeInfo handle the body
// only, without the type byte. The node-info payload carried in the pong and
// peng handshake messages is that same body, also without a type byte
// (VpnCloud's InitState encrypts Payload::write_to's output as is).
//
// All functions are pure and safe for concurrent use. No input makes a
// decoder panic; decoders return the sentinel errors of errors.go, wrapped
// with the failing operation.
package wire

// Message type bytes: the first byte of every plaintext message inside a
// session (after decryption), as in VpnCloud's messages.rs and crypto/mod.rs.
const (
	TypeData      byte = 0x00 // an IP packet or Ethernet frame follows
	TypeNodeInfo  byte = 0x01 // a node-info body follows (AppendNodeInfo)
	TypeKeepalive byte = 0x02 // no body
	TypeRotation  byte = 0x10 // a key-rotation message follows (package handshake)
	TypeClose     byte = 0xFF // no body; the sender leaves
)

// peercloud's relay messages (types VpnCloud does not have; they are only
// sent to peers whose handshake announced relaying, see package handshake's
// ExtFlagRelay). A relay message travels inside the session between a node
// and its relay, and carries a whole outer datagram of another session
// (handshake or sealed) that the relay cannot open:
//
//	TypeRelay   (node -> relay): destination node id (16) ‖ datagram
//	TypeRelayed (relay -> node): source node id (16) ‖ datagram
//
// The relay re-wraps the datagram, swapping the destination id for the
// sender's, and seals it in its session with the destination.
const (
	TypeRelay   byte = 0x20
	TypeRelayed byte = 0x21
)

// RelayHeaderLen is the length of a relay message body before the carried
// datagram (the node id).
const RelayHeaderLen = NodeIDLen

// InitByte is the first byte of an outer packet that carries a handshake
// (init) message instead of an encrypted one. It equals TypeClose, but the
// two never meet: InitByte is looked at before decryption, TypeClose after.
const InitByte byte = 0xFF

// NodeIDLen is the length of a node id in bytes.
const NodeIDLen = 16

// NodeID is a node's random per-run identity, sent in node-info messages and
// hashed (salted) in the handshake to detect connections to oneself.
type NodeID [NodeIDLen]byte
