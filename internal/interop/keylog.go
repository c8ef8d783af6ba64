package interop

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// KeyEvent is one line of a VpnCloud key log (written by the instrumented
// VpnCloud 2.3.0 build the keylogged captures were made with).
type KeyEvent struct {
	Event         string // "master", "rotate-cycle" or "rotate-recv-msg"
	ID            uint64 // rotation message id; the key slot is ID % 4
	UseForSending bool
	Key           []byte
}

// ParseKeylog reads "EVENT ID USE_FOR_SENDING KEY_HEX" lines; blank lines
// are skipped.
func ParseKeylog(r io.Reader) ([]KeyEvent, error) {
	var out []KeyEvent
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("interop.ParseKeylog line %d: %d fields: %w", n, len(f), ErrKeylog)
		}
		id, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("interop.ParseKeylog line %d: id: %w", n, ErrKeylog)
		}
		use, err := strconv.ParseBool(f[2])
		if err != nil {
			return nil, fmt.Errorf("interop.ParseKeylog line %d: use_for_sending: %w", n, ErrKeylog)
		}
		key, err := hex.DecodeString(f[3])
		if err != nil || len(key) == 0 {
			return nil, fmt.Errorf("interop.ParseKeylog line %d: key: %w", n, ErrKeylog)
		}
		out = append(out, KeyEvent{Event: f[0], ID: id, UseForSending: use, Key: key})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("interop.ParseKeylog: %w", err)
	}
	return out, nil
}

// Frame is the outer view of one VpnCloud packet of an encrypted session.
type Frame struct {
	Handshake bool   // first byte 0xFF: an init message follows
	Init      []byte // the init message (after 0xFF) when Handshake
	KeyID     uint8  // encrypted: key id byte (VpnCloud uses it % 4)
	Counter   uint64 // encrypted: nonce bytes 5..11, big-endian
	Sealed    int    // encrypted: length of ciphertext + tag
}

// headerLen and tagLen frame an encrypted packet: key id + 7 nonce bytes,
// then ciphertext, then the 16-byte tag.
const (
	headerLen = 8
	tagLen    = 16
)

// ParseFrame frames an outer packet of a session whose algorithm is not
// plain: a handshake (0xFF + init message), or key id 0..3 + 7 nonce bytes
// + ciphertext of at least the type byte + 16-byte tag.
func ParseFrame(pkt []byte) (Frame, error) {
	if len(pkt) == 0 {
		return Frame{}, fmt.Errorf("interop.ParseFrame: empty: %w", ErrFrame)
	}
	if pkt[0] == 0xFF {
		return Frame{Handshake: true, Init: pkt[1:]}, nil
	}
	if pkt[0] > 3 {
		return Frame{}, fmt.Errorf("interop.ParseFrame: key id %d: %w", pkt[0], ErrFrame)
	}
	if len(pkt) < headerLen+1+tagLen {
		return Frame{}, fmt.Errorf("interop.ParseFrame: %d bytes: %w", len(pkt), ErrFrame)
	}
	var ctr [8]byte
	copy(ctr[1:], pkt[1:headerLen])
	return Frame{KeyID: pkt[0], Counter: binary.BigEndian.Uint64(ctr[:]), Sealed: len(pkt) - headerLen}, nil
}

// InitField is one TLV field of a VpnCloud init (handshake) message.
type InitField struct {
	Type  uint8
	Value []byte
}

// SplitInit walks an init message (without the 0xFF): 4-byte salt, 4-byte
// key hash, TLV fields (type u8, length u16) up to the end field 0, then the
// signature length byte and signature. It checks the framing only, not the
// signature (package handshake does that); nothing may follow the
// signature.
func SplitInit(msg []byte) (fields []InitField, signed, sig []byte, err error) {
	if len(msg) < 8 {
		return nil, nil, nil, fmt.Errorf("interop.SplitInit: header: %w", ErrFrame)
	}
	pos := 8
	for {
		if pos >= len(msg) {
			return nil, nil, nil, fmt.Errorf("interop.SplitInit: field: %w", ErrFrame)
		}
		typ := msg[pos]
		pos++
		if typ == 0 {
			break
		}
		if len(msg)-pos < 2 {
			return nil, nil, nil, fmt.Errorf("interop.SplitInit: field %d length: %w", typ, ErrFrame)
		}
		n := int(binary.BigEndian.Uint16(msg[pos:]))
		pos += 2
		if len(msg)-pos < n {
			return nil, nil, nil, fmt.Errorf("interop.SplitInit: field %d value: %w", typ, ErrFrame)
		}
		fields = append(fields, InitField{Type: typ, Value: msg[pos : pos+n]})
		pos += n
	}
	signed = msg[:pos]
	if pos >= len(msg) || len(msg)-pos-1 != int(msg[pos]) {
		return nil, nil, nil, fmt.Errorf("interop.SplitInit: signature: %w", ErrFrame)
	}
	return fields, signed, msg[pos+1:], nil
}
