package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/peercloud/peercloud/handshake"
)

// ParseListen parses a listen (or advertise) address as VpnCloud does: "*:port"
// or a bare port mean all IPv4 and IPv6 addresses ([::]:port); "IP:port" and
// "[v6]:port" are taken as given; a bare IP gets defaultPort.
func ParseListen(s string, defaultPort uint16) (netip.AddrPort, error) {
	if rest, ok := strings.CutPrefix(s, "*:"); ok {
		p, err := parsePort(rest)
		if err != nil {
			return netip.AddrPort{}, err
		}
		return netip.AddrPortFrom(netip.IPv6Unspecified(), p), nil
	}
	if strings.HasPrefix(s, "ws://") || strings.HasPrefix(s, "wss://") {
		return netip.AddrPort{}, fmt.Errorf("%q: the websocket proxy is not supported by peercloud: %w", s, ErrInvalidValue)
	}
	if strings.Contains(s, ":") {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not a port, IP:port or [IPv6]:port: %w", s, ErrInvalidValue)
		}
		return ap, nil
	}
	if p, err := parsePort(s); err == nil {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), p), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not a port, IP, IP:port or [IPv6]:port: %w", s, ErrInvalidValue)
	}
	return netip.AddrPortFrom(ip, defaultPort), nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || s == "" || s[0] == '+' {
		return 0, fmt.Errorf("%q is not a port number (0-65535): %w", s, ErrInvalidValue)
	}
	return uint16(p), nil
}

// PeerAddress checks a peer address and returns it as "host:port": VpnCloud
// accepts "host:port", "[v6]:port", a bare host name or IP (port 3210 is
// added) and host names, which the daemon resolves later.
func PeerAddress(s string) (string, error) {
	host, port, err := splitHostPort(s, true)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

// splitHostPort splits a host[:port] address; without a port DefaultPort is
// used when portOptional, else it is an error.
func splitHostPort(s string, portOptional bool) (string, uint16, error) {
	bad := func(why string) error {
		return fmt.Errorf("%q is not host:port (%s): %w", s, why, ErrInvalidValue)
	}
	if s == "" {
		return "", 0, bad("empty")
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Is6() {
		if !portOptional {
			return "", 0, bad("no port")
		}
		return ip.String(), DefaultPort, nil // a bare IPv6 address
	}
	host, portStr := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, bad("no closing ]")
		}
		host = s[1:end]
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return "", 0, bad("not an IPv6 address in brackets")
		}
		rest := s[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return "", 0, bad("junk after ]")
			}
			portStr = p
			if portStr == "" {
				return "", 0, bad("empty port")
			}
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, portStr = s[:i], s[i+1:]
		if portStr == "" {
			return "", 0, bad("empty port")
		}
		if !validHost(host) {
			return "", 0, bad("not a host name or IPv4 address")
		}
	} else if !validHost(host) {
		return "", 0, bad("not a host name or IP address")
	}
	if portStr == "" {
		if !portOptional {
			return "", 0, bad("no port")
		}
		return host, DefaultPort, nil
	}
	p, err := parsePort(portStr)
	if err != nil || p == 0 {
		return "", 0, bad("port must be 1-65535")
	}
	return host, p, nil
}

// validHost reports whether s is an IPv4 address or a syntactically valid
// DNS host name (letters, digits, '-' and '_' in dot-separated labels).
func validHost(s string) bool {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Is4()
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ParseDeviceIP parses the --ip setting as VpnCloud does: an IPv4 address
// with an optional prefix length, /24 when none is given.
func ParseDeviceIP(s string) (netip.Prefix, error) {
	addrStr, lenStr, hasLen := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(addrStr)
	if err != nil || !ip.Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address with optional /prefix: %w", s, ErrInvalidValue)
	}
	bits := 24
	if hasLen {
		n, err := strconv.ParseUint(lenStr, 10, 8)
		if err != nil || n > 32 {
			return netip.Prefix{}, fmt.Errorf("%q: prefix length must be 0-32: %w", s, ErrInvalidValue)
		}
		bits = int(n)
	}
	return netip.PrefixFrom(ip, bits), nil
}

// Claim is a claimed subnet, VpnCloud's Range: an IPv4 (Len 4), IPv6
// (Len 16) or MAC (Len 6) base address and a prefix length in bits.
type Claim struct {
	Base      [16]byte // the address in its first Len bytes
	Len       uint8    // 4, 6 or 16
	PrefixLen uint8    // 0..8*Len
}

// Prefix returns the claim as an IP prefix; ok is false for MAC claims.
func (c Claim) Prefix() (p netip.Prefix, ok bool) {
	switch c.Len {
	case 4:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(c.Base[:4])), int(c.PrefixLen)), true
	case 16:
		return netip.PrefixFrom(netip.AddrFrom16(c.Base), int(c.PrefixLen)), true
	}
	return netip.Prefix{}, false
}

func (c Claim) String() string {
	if p, ok := c.Prefix(); ok {
		return p.String()
	}
	if c.Len == 6 {
		return fmt.Sprintf("%s/%d", net.HardwareAddr(c.Base[:6]), c.PrefixLen)
	}
	return fmt.Sprintf("Claim(len %d)", c.Len)
}

// ParseClaim parses "address/prefixlen" where address is IPv4, IPv6 or a MAC
// address (six hex bytes separated by ':'). A bare IP address claims just
// that address (/32 or /128).
func ParseClaim(s string) (Claim, error) {
	addrStr, lenStr, hasLen := strings.Cut(s, "/")
	var c Claim
	if ip, err := netip.ParseAddr(addrStr); err == nil && ip.Zone() == "" {
		if ip.Is4() {
			c.Len = 4
			a := ip.As4()
			copy(c.Base[:], a[:])
		} else {
			c.Len = 16
			c.Base = ip.As16()
		}
	} else if mac, ok := parseMAC(addrStr); ok {
		c.Len = 6
		copy(c.Base[:], mac[:])
	} else {
		return Claim{}, fmt.Errorf("%q is not IP/prefix, IPv6/prefix or MAC/prefix: %w", s, ErrInvalidValue)
	}
	c.PrefixLen = 8 * c.Len
	if hasLen {
		n, err := strconv.ParseUint(lenStr, 10, 8)
		if err != nil || n > uint64(8*c.Len) {
			return Claim{}, fmt.Errorf("%q: prefix length must be 0-%d: %w", s, 8*c.Len, ErrInvalidValue)
		}
		c.PrefixLen = uint8(n)
	} else if c.Len == 6 {
		return Claim{}, fmt.Errorf("%q: a MAC claim needs a /prefix: %w", s, ErrInvalidValue)
	}
	return c, nil
}

// parseMAC parses six ':'-separated hex bytes (one or two digits each), as
// VpnCloud's Address parser.
func parseMAC(s string) ([6]byte, bool) {
	var mac [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return mac, false
	}
	for i, p := range parts {
		if p == "" || len(p) > 2 {
			return mac, false
		}
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return mac, false
		}
		mac[i] = byte(v)
	}
	return mac, true
}

// Algorithms is the set of allowed data ciphers.
type Algorithms struct {
	Plain, AES128, AES256, ChaCha20 bool
}

// DefaultAlgorithms are VpnCloud's: every cipher, no plain text.
var DefaultAlgorithms = Algorithms{AES128: true, AES256: true, ChaCha20: true}

// ParseAlgorithms parses VpnCloud's algorithm names, case-insensitively:
// UNENCRYPTED|NONE|PLAIN, AES128|AES128_GCM|AES_128|AES_128_GCM,
// AES256|AES256_GCM|AES_256|AES_256_GCM, CHACHA|CHACHA20|CHACHA20_POLY1305.
// An empty list means DefaultAlgorithms.
func ParseAlgorithms(names []string) (Algorithms, error) {
	if len(names) == 0 {
		return DefaultAlgorithms, nil
	}
	var a Algorithms
	for _, n := range names {
		switch strings.ToUpper(n) {
		case "UNENCRYPTED", "NONE", "PLAIN":
			a.Plain = true
		case "AES128", "AES128_GCM", "AES_128", "AES_128_GCM":
			a.AES128 = true
		case "AES256", "AES256_GCM", "AES_256", "AES_256_GCM":
			a.AES256 = true
		case "CHACHA", "CHACHA20", "CHACHA20_POLY1305":
			a.ChaCha20 = true
		default:
			return Algorithms{}, fmt.Errorf("%q is not an algorithm (plain, aes128, aes256 or chacha20): %w", n, ErrInvalidValue)
		}
	}
	return a, nil
}

// KeyLen is the length of VpnCloud keys: an Ed25519 seed or public key.
const KeyLen = 32

// DecodeKey decodes a base62 key (VpnCloud's alphabet 0-9A-Za-z, most
// significant digit first) of KeyLen bytes. A 32-byte key takes 43 digits,
// or 42 when its value is small; such a key can decode to fewer than 32
// bytes (a leading zero byte) and is left-padded, as package handshake
// reads it (VpnCloud's genkey prints such keys and then refuses them).
func DecodeKey(s string) ([KeyLen]byte, error) {
	var key [KeyLen]byte
	if s == "" {
		return key, fmt.Errorf("empty key: %w", ErrInvalidValue)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return key, fmt.Errorf("%q is not a base62 key: bad character %q: %w", s, c, ErrInvalidValue)
		}
	}
	if len(s) < 42 || len(s) > 43 {
		return key, fmt.Errorf("%q is not a key: %d digits, a %d-byte key has 42 or 43: %w", s, len(s), KeyLen, ErrInvalidValue)
	}
	k, err := handshake.ParsePublicKey(s)
	if err != nil {
		return key, fmt.Errorf("%q is not a key of %d bytes (%v): %w", s, KeyLen, errors.Unwrap(err), ErrInvalidValue)
	}
	return [KeyLen]byte(k), nil
}

// publicKeyOf returns the Ed25519 public key of a seed.
func publicKeyOf(seed [KeyLen]byte) [KeyLen]byte {
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	return [KeyLen]byte(pub)
}
