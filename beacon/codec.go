package beacon

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Keystream types, as VpnCloud's beacon.rs.
const (
	typeBegin byte = 0
	typeEnd   byte = 1
	typeData  byte = 2
	typeSeed  byte = 3
)

// maxDataChars bounds one beacon's base62 payload. VpnCloud writes three
// addresses (under 100 characters); 4096 characters hold 255 IPv4 and
// dozens of IPv6 addresses while keeping the quadratic base62 decoding
// cheap on hostile input.
const maxDataChars = 4096

// maxV4 is the most IPv4 addresses one beacon can carry (a one-byte count).
const maxV4 = 255

// Codec encodes and decodes beacons for one beacon password. It is
// immutable after New and safe for concurrent use.
type Codec struct {
	key        []byte
	begin, end string
	seedMask   byte
}

// New returns the codec for password ("" is VpnCloud's default: an empty
// key).
func New(password string) *Codec {
	c := &Codec{key: []byte(password)}
	b := c.keystream(typeBegin, 0, 0)
	e := c.keystream(typeEnd, 0, 0)
	c.begin = toBase62(b[:])[:5]
	c.end = toBase62(e[:])[:5]
	c.seedMask = c.keystream(typeSeed, 0, 0)[0]
	return c
}

// Begin is the five-character marker every beacon of this password starts
// with (VpnCloud's $begin).
func (c *Codec) Begin() string { return c.begin }

// End is the five-character marker every beacon of this password ends with
// (VpnCloud's $end).
func (c *Codec) End() string { return c.end }

func (c *Codec) keystream(typ, seed, iter byte) [sha512.Size]byte {
	buf := make([]byte, 0, 3+len(c.key))
	buf = append(buf, typ, seed, iter)
	buf = append(buf, c.key...)
	return sha512.Sum512(buf)
}

// mask XORs data with the keystream for seed: 16 bytes of each SHA-512
// block, as VpnCloud (which uses only the first 16 of the 64).
func (c *Codec) mask(data []byte, typ, seed byte) {
	var iter byte
	ks := c.keystream(typ, seed, iter)
	pos := 0
	for i := range data {
		data[i] ^= ks[pos]
		pos++
		if pos == 16 {
			pos = 0
			iter++
			ks = c.keystream(typ, seed, iter)
		}
	}
}

// hour16 is VpnCloud's now_hour_16: hours since the epoch, low 16 bits.
func hour16(t time.Time) uint16 { return uint16((t.Unix() / 3600) & 0xffff) }

// EncodeData returns the middle part of a beacon (VpnCloud's $data): the
// timestamp of now and peers, masked and base62-encoded. IPv4 addresses
// (also IPv4-mapped ones) come first, then IPv6; more than 255 IPv4
// addresses are cut to 255 (the count is one byte).
func (c *Codec) EncodeData(peers []netip.AddrPort, now time.Time) string {
	data := make([]byte, 3, 3+6*len(peers)+18*len(peers)+1)
	binary.BigEndian.PutUint16(data, hour16(now))
	var v4 byte
	for _, p := range peers {
		a := p.Addr().Unmap()
		if !a.Is4() || v4 == maxV4 {
			continue
		}
		ip := a.As4()
		data = append(data, ip[:]...)
		data = binary.BigEndian.AppendUint16(data, p.Port())
		v4++
	}
	data[2] = v4
	for _, p := range peers {
		a := p.Addr().Unmap()
		if !a.Is6() {
			continue
		}
		ip := a.As16()
		data = append(data, ip[:]...)
		data = binary.BigEndian.AppendUint16(data, p.Port())
	}
	seed := sha512.Sum512(data)
	c.mask(data, typeData, seed[0])
	data = append(data, seed[0]^c.seedMask)
	return toBase62(data)
}

// Encode returns the whole beacon: Begin, EncodeData, End (VpnCloud's
// encode and $beacon).
func (c *Codec) Encode(peers []netip.AddrPort, now time.Time) string {
	return c.begin + c.EncodeData(peers, now) + c.end
}

// DecodeData decodes the middle part of one beacon. With ttl > 0 a beacon
// whose hour stamp is more than ttl (in whole hours, both directions, 16-bit
// wrapping as VpnCloud) away from now is ErrExpired; ttl 0 accepts any age.
//
// One tolerance beyond VpnCloud: base62 loses a leading zero byte, so a
// beacon whose masked payload starts with 0x00 (one in 256) fails
// VpnCloud's check; when the check fails, DecodeData tries again with one
// and with two zero bytes restored.
func (c *Codec) DecodeData(data string, now time.Time, ttl time.Duration) ([]netip.AddrPort, error) {
	if len(data) > maxDataChars {
		return nil, fmt.Errorf("beacon.DecodeData: %d characters: %w", len(data), ErrTooLong)
	}
	raw, err := fromBase62(data)
	if err != nil {
		return nil, fmt.Errorf("beacon.DecodeData: %w", err)
	}
	peers, err := c.decodePayload(raw, now, ttl)
	if err == ErrChecksum {
		padded := raw
		for range 2 {
			padded = append([]byte{0}, padded...)
			if p, err2 := c.decodePayload(padded, now, ttl); err2 == nil {
				return p, nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("beacon.DecodeData: %w", err)
	}
	return peers, nil
}

// decodePayload is VpnCloud's peerlist_decode on the base62-decoded bytes;
// it does not modify raw.
func (c *Codec) decodePayload(raw []byte, now time.Time, ttl time.Duration) ([]netip.AddrPort, error) {
	if len(raw) < 4 {
		return nil, ErrTooShort
	}
	data := make([]byte, len(raw)-1)
	copy(data, raw)
	seed := raw[len(raw)-1] ^ c.seedMask
	c.mask(data, typeData, seed)
	if sum := sha512.Sum512(data); sum[0] != seed {
		return nil, ErrChecksum
	}
	then := binary.BigEndian.Uint16(data)
	if ttl > 0 {
		h := uint16(min(ttl/time.Hour, 0xffff))
		n := hour16(now)
		if n-then > h && then-n > h {
			return nil, ErrExpired
		}
	}
	v4 := int(data[2])
	rest := data[3:]
	if v4*6 > len(rest) || (len(rest)-v4*6)%18 != 0 {
		return nil, ErrBadLength
	}
	peers := make([]netip.AddrPort, 0, v4+(len(rest)-v4*6)/18)
	for ; v4 > 0; v4-- {
		ip := netip.AddrFrom4([4]byte(rest[:4]))
		peers = append(peers, netip.AddrPortFrom(ip, binary.BigEndian.Uint16(rest[4:6])))
		rest = rest[6:]
	}
	for len(rest) >= 18 {
		ip := netip.AddrFrom16([16]byte(rest[:16]))
		peers = append(peers, netip.AddrPortFrom(ip, binary.BigEndian.Uint16(rest[16:18])))
		rest = rest[18:]
	}
	return peers, nil
}

// sanitize keeps the ASCII letters and digits of text (VpnCloud's
// base_62_sanitize; bytes of multi-byte UTF-8 sequences are never ASCII).
func sanitize(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for i := 0; i < len(text); i++ {
		if base62Value(text[i]) >= 0 {
			b.WriteByte(text[i])
		}
	}
	return b.String()
}

// Decode finds every beacon in text, which may hold other text and have
// non-alphanumeric characters anywhere (VpnCloud's decode), and returns
// the addresses of all that decode. The error is nil when at least one
// beacon decoded; otherwise it is ErrNotFound (no marker pair) or the error
// of the last candidate (ErrChecksum, ErrExpired, ...).
func (c *Codec) Decode(text string, now time.Time, ttl time.Duration) ([]netip.AddrPort, error) {
	data := sanitize(text)
	var (
		peers   []netip.AddrPort
		found   bool
		lastErr error = ErrNotFound
	)
	pos := 0
	for {
		i := strings.Index(data[pos:], c.begin)
		if i < 0 {
			break
		}
		pos += i
		start := pos + len(c.begin)
		// VpnCloud searches the end marker from the begin marker, not
		// after it.
		j := strings.Index(data[pos:], c.end)
		if j < 0 {
			break
		}
		if stop := pos + j; stop >= start {
			p, err := c.DecodeData(data[start:stop], now, ttl)
			if err == nil {
				peers = append(peers, p...)
				found = true
			} else {
				lastErr = err
			}
		}
		pos = start
	}
	if !found {
		return nil, fmt.Errorf("beacon.Decode: %w", lastErr)
	}
	return peers, nil
}
