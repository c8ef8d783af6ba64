package aead

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/peercloud/peercloud/aead/internal/vgcm"
)

// Counter is the 56-bit per-key packet counter carried in nonce bytes 5..11.
type Counter uint64

// MaxCounter is the largest counter a packet can carry.
const MaxCounter Counter = 1<<56 - 1

// Slots is the number of key slots (VpnCloud rotates through four).
const Slots = 4

// noncePool holds 12-byte nonce scratch buffers. A nonce passed to a
// cipher.AEAD method escapes (the call is through an interface), so a stack
// array would cost one allocation per packet; pooled buffers cost none.
var noncePool = sync.Pool{New: func() any { return new([NonceLen]byte) }}

// keyState is one slot's key: immutable ciphers, the atomic send counter and
// the replay window. Install replaces the whole keyState, which is how a
// rotated key gets a fresh counter and a fresh window.
type keyState struct {
	send, recv cipher.AEAD
	_          [64]byte // keep the hot counter off the ciphers' cache line
	ctr        atomic.Uint64
	_          [56]byte // and off the receivers' lock
	mu         sync.Mutex
	win        replayFilter // guarded by mu
}

func newKeyState(alg Algorithm, sendKey, recvKey []byte) (*keyState, error) {
	send, err := newCipher(alg, sendKey)
	if err != nil {
		return nil, fmt.Errorf("send key: %w", err)
	}
	recv := send
	n := alg.KeyLen()
	if len(recvKey) < n || !bytes.Equal(sendKey[:n], recvKey[:n]) {
		if recv, err = newCipher(alg, recvKey); err != nil {
			return nil, fmt.Errorf("receive key: %w", err)
		}
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[2:]); err != nil {
		return nil, fmt.Errorf("random nonce start: %w", err)
	}
	k := &keyState{send: send, recv: recv}
	// Random start in nonce bytes 6..11, byte 5 zero (VpnCloud's Nonce::random).
	k.ctr.Store(binary.BigEndian.Uint64(rnd[:]))
	return k, nil
}

// Session is one peer's crypto state (VpnCloud's CryptoCore): four key
// slots, the current send slot and the nonce half.
//
// All methods are safe for concurrent use by many goroutines, including
// Install concurrently with sealing and opening. Packets sealed or opened
// while Install replaces a slot use either the old or the new key, never a
// mix. A Session holds no goroutines or OS resources and needs no Close.
type Session struct {
	alg      Algorithm
	half     byte // byte 0 of nonces this side sends
	peerHalf byte // byte 0 of nonces this side receives
	cur      atomic.Uint32
	slots    [Slots]atomic.Pointer[keyState]
}

// NewSession makes a session with sendKey/recvKey in slot 0, which is the
// send slot. Only the first alg.KeyLen() bytes of each key are used. VpnCloud
// mode passes the same key twice; peercloud's extended handshake passes one
// key per direction. nonceHalf is VpnCloud's nonce_half flag (true: this side
// sends nonces with byte 0 = 0x80). For Plain the keys are ignored.
func NewSession(alg Algorithm, nonceHalf bool, sendKey, recvKey []byte) (*Session, error) {
	if !alg.Valid() {
		return nil, fmt.Errorf("aead.NewSession %s: %w", alg, ErrAlgorithm)
	}
	s := &Session{alg: alg, half: 0x00, peerHalf: 0x80}
	if nonceHalf {
		s.half, s.peerHalf = 0x80, 0x00
	}
	if err := s.Install(0, sendKey, recvKey, true); err != nil {
		return nil, fmt.Errorf("aead.NewSession: %w", err)
	}
	return s, nil
}

// Algorithm is the session's cipher suite.
func (s *Session) Algorithm() Algorithm { return s.alg }

// NonceHalf reports the session's nonce-half flag.
func (s *Session) NonceHalf() bool { return s.half == 0x80 }

// SendSlot is the slot (0..3) new packets are sealed with.
func (s *Session) SendSlot() int { return int(s.cur.Load()) }

// HasKey reports whether slot%4 holds a key (always true for Plain).
func (s *Session) HasKey(slot int) bool {
	return s.alg == Plain || s.slots[slot&(Slots-1)].Load() != nil
}

// Install puts a key into slot%4 (VpnCloud's rotate_key; negative slots wrap
// like their two's-complement low bits) with a fresh random send counter and
// a fresh replay window; useForSending makes it the send slot. Packets under
// the slot's previous key no longer open. For Plain, keys are ignored and
// only the send slot changes.
func (s *Session) Install(slot int, sendKey, recvKey []byte, useForSending bool) error {
	idx := uint32(slot) & (Slots - 1)
	if s.alg != Plain {
		k, err := newKeyState(s.alg, sendKey, recvKey)
		if err != nil {
			return fmt.Errorf("aead.Install slot %d: %w", idx, err)
		}
		s.slots[idx].Store(k)
	}
	if useForSending {
		s.cur.Store(idx)
	}
	return nil
}

// sendKey returns the current send slot and its key.
func (s *Session) sendKey() (uint8, *keyState) {
	slot := s.cur.Load()
	return uint8(slot), s.slots[slot].Load()
}

// Seal encrypts the plaintext (type byte + body) at buf[HeaderLen:HeaderLen+n]
// in place with the current send key and the next counter, writes the
// header before it and the tag after it, and returns the wire packet
// buf[:HeaderLen+n+TagLen]. cap(buf) must be at least HeaderLen+n+TagLen.
// For Plain it returns buf[HeaderLen:HeaderLen+n] untouched (n >= 1).
//
// Errors are bare sentinels so that the hot path never allocates.
func (s *Session) Seal(buf []byte, n int) ([]byte, error) {
	if n < 0 || cap(buf)-HeaderLen < n {
		return nil, ErrBuffer
	}
	if s.alg == Plain {
		if n == 0 {
			return nil, ErrShort
		}
		return buf[HeaderLen : HeaderLen+n], nil
	}
	slot, k := s.sendKey()
	if k == nil {
		return nil, ErrNoKey
	}
	if cap(buf)-Overhead < n {
		return nil, ErrBuffer
	}
	ctr := k.ctr.Add(1)
	if ctr > uint64(MaxCounter) {
		return nil, ErrNonceExhausted
	}
	return sealWith(k.send, s.half, slot, ctr, buf, buf[HeaderLen:HeaderLen+n]), nil
}

// SealTo is Seal out of place: it encrypts plain into dst and returns the
// wire packet dst[:HeaderLen+len(plain)+TagLen] (cap(dst) must allow it).
// plain must not overlap dst, except that plain may start exactly at
// dst[HeaderLen] (then SealTo is Seal). The copy into dst comes free with the
// encryption, so a sender can seal each segment of a superpacket straight
// into its slot of a send buffer. For Plain the packet is plain copied to
// dst[:len(plain)].
func (s *Session) SealTo(dst, plain []byte) ([]byte, error) {
	if s.alg == Plain {
		return copyPlain(dst, plain)
	}
	if cap(dst)-Overhead < len(plain) {
		return nil, ErrBuffer
	}
	slot, k := s.sendKey()
	if k == nil {
		return nil, ErrNoKey
	}
	ctr := k.ctr.Add(1)
	if ctr > uint64(MaxCounter) {
		return nil, ErrNonceExhausted
	}
	return sealWith(k.send, s.half, slot, ctr, dst, plain), nil
}

func copyPlain(dst, plain []byte) ([]byte, error) {
	if len(plain) == 0 {
		return nil, ErrShort
	}
	if cap(dst) < len(plain) {
		return nil, ErrBuffer
	}
	dst = dst[:len(plain)]
	copy(dst, plain)
	return dst, nil
}

// sealWith writes header, ciphertext and tag into out (cap checked by the
// caller) and returns the packet.
func sealWith(a cipher.AEAD, half, slot uint8, ctr uint64, out, plain []byte) []byte {
	out = out[:HeaderLen]
	binary.BigEndian.PutUint64(out, ctr) // bytes 1..7 = counter; byte 0 overwritten next
	out[0] = slot
	if g, ok := a.(*vgcm.GCM); ok { // a concrete call: the nonce stays on the stack
		var nonce [NonceLen]byte
		nonce[0] = half
		copy(nonce[5:], out[1:HeaderLen])
		ct := g.Seal(out[HeaderLen:HeaderLen], nonce[:], plain, nil)
		return out[:HeaderLen+len(ct)]
	}
	np := noncePool.Get().(*[NonceLen]byte)
	np[0], np[1], np[2], np[3], np[4] = half, 0, 0, 0, 0
	copy(np[5:], out[1:HeaderLen])
	ct := a.Seal(out[HeaderLen:HeaderLen], np[:], plain, nil)
	noncePool.Put(np)
	return out[:HeaderLen+len(ct)]
}

// Ticket is the receipt of Authenticate: which key and counter a packet
// authenticated under. Pass it to Accept. The zero Ticket (plain mode) is
// always accepted.
type Ticket struct {
	k   *keyState
	ctr uint64
}

// Counter is the packet's counter (0 for plain mode).
func (t Ticket) Counter() Counter { return Counter(t.ctr) }

// Open decrypts pkt in place and returns the plaintext (type byte + body),
// pkt[HeaderLen:len(pkt)-TagLen]. It fails with ErrShort, ErrNoKey, ErrAuth
// or ErrReplay (bare sentinels, no allocation); on failure the payload bytes
// of pkt are unspecified. For Plain it returns pkt itself (non-empty).
// Open = Authenticate + Accept.
func (s *Session) Open(pkt []byte) ([]byte, error) {
	if s.alg == Plain {
		if len(pkt) == 0 {
			return nil, ErrShort
		}
		return pkt, nil
	}
	if len(pkt) < Overhead {
		return nil, ErrShort
	}
	plain, t, err := s.open(pkt[HeaderLen:HeaderLen], pkt)
	if err != nil {
		return nil, err
	}
	if err := s.Accept(t); err != nil {
		return nil, err
	}
	return plain, nil
}

// OpenTo is Open out of place: the plaintext goes to dst[:len(pkt)-Overhead]
// (cap(dst) must allow it). dst must not overlap pkt, except that dst may
// start exactly at pkt[HeaderLen] (then OpenTo is Open). For Plain, pkt is
// copied to dst.
func (s *Session) OpenTo(dst, pkt []byte) ([]byte, error) {
	plain, t, err := s.AuthenticateTo(dst, pkt)
	if err != nil {
		return nil, err
	}
	if err := s.Accept(t); err != nil {
		return nil, err
	}
	return plain, nil
}

// Authenticate decrypts and verifies pkt in place like Open but does not
// consult or update the replay window: the caller must pass the Ticket to
// Accept, and drop the packet unless Accept returns nil. The split lets a
// parallel pipeline authenticate on many workers and then run the cheap,
// serialized replay check in one place (or in any order: Accept is safe for
// concurrent use and order-independent within the window).
func (s *Session) Authenticate(pkt []byte) ([]byte, Ticket, error) {
	if s.alg == Plain {
		if len(pkt) == 0 {
			return nil, Ticket{}, ErrShort
		}
		return pkt, Ticket{}, nil
	}
	if len(pkt) < Overhead {
		return nil, Ticket{}, ErrShort
	}
	return s.open(pkt[HeaderLen:HeaderLen], pkt)
}

// AuthenticateTo is Authenticate out of place, with OpenTo's rules for dst.
func (s *Session) AuthenticateTo(dst, pkt []byte) ([]byte, Ticket, error) {
	if s.alg == Plain {
		plain, err := copyPlain(dst, pkt)
		return plain, Ticket{}, err
	}
	if len(pkt) < Overhead {
		return nil, Ticket{}, ErrShort
	}
	if cap(dst) < len(pkt)-Overhead {
		return nil, Ticket{}, ErrBuffer
	}
	return s.open(dst[:0], pkt)
}

// open authenticates and decrypts pkt (len >= Overhead) into dst.
func (s *Session) open(dst, pkt []byte) ([]byte, Ticket, error) {
	k := s.slots[pkt[0]&(Slots-1)].Load()
	if k == nil {
		return nil, Ticket{}, ErrNoKey
	}
	var plain []byte
	var err error
	if g, ok := k.recv.(*vgcm.GCM); ok { // as in sealWith
		var nonce [NonceLen]byte
		nonce[0] = s.peerHalf
		copy(nonce[5:], pkt[1:HeaderLen])
		plain, err = g.Open(dst, nonce[:], pkt[HeaderLen:], nil)
	} else {
		np := noncePool.Get().(*[NonceLen]byte)
		np[0], np[1], np[2], np[3], np[4] = s.peerHalf, 0, 0, 0, 0
		copy(np[5:], pkt[1:HeaderLen])
		plain, err = k.recv.Open(dst, np[:], pkt[HeaderLen:], nil)
		noncePool.Put(np)
	}
	if err != nil {
		return nil, Ticket{}, ErrAuth
	}
	return plain, Ticket{k: k, ctr: binary.BigEndian.Uint64(pkt[:HeaderLen]) & uint64(MaxCounter)}, nil
}

// Accept records an authenticated packet's counter in its key's replay
// window. It returns ErrReplay if the counter was seen before or is more
// than ReplayWindow behind the newest one accepted. If the slot was
// reinstalled since Authenticate, the ticket still refers to the old key, so
// it can never mark a counter of the new key as seen.
func (s *Session) Accept(t Ticket) error {
	if t.k == nil {
		return nil
	}
	t.k.mu.Lock()
	ok := t.k.win.accept(t.ctr)
	t.k.mu.Unlock()
	if !ok {
		return ErrReplay
	}
	return nil
}

// AcceptTickets is Accept for many tickets at once, in order: ok[i]
// reports whether ts[i] was accepted (a zero Ticket always is). It takes
// each key's lock once per run of consecutive tickets of that key, so a
// batch of one peer's packets costs one lock instead of one per packet (the
// lock's atomics were ~2 % of a receiving node's CPU). len(ok) must be at
// least len(ts).
func AcceptTickets(ts []Ticket, ok []bool) {
	var held *keyState
	for i, t := range ts {
		if t.k == nil {
			ok[i] = true
			continue
		}
		if t.k != held {
			if held != nil {
				held.mu.Unlock()
			}
			held = t.k
			held.mu.Lock()
		}
		ok[i] = held.win.accept(t.ctr)
	}
	if held != nil {
		held.mu.Unlock()
	}
}

// ParseHeader returns the key slot (key id % 4) and counter of an encrypted
// packet without authenticating it.
func ParseHeader(pkt []byte) (slot uint8, ctr Counter, err error) {
	if len(pkt) < Overhead {
		return 0, 0, ErrShort
	}
	return pkt[0] & (Slots - 1), Counter(binary.BigEndian.Uint64(pkt[:HeaderLen]) & uint64(MaxCounter)), nil
}
