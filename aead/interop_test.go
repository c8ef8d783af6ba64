package aead

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// Packets captured from real VpnCloud 2.3.0 nodes (interop fixture
// vpncloud-2.3.0-chacha20.pcap, key from vpncloud-2.3.0-chacha20.A.keylog).
// A = 10.99.32.1 connected to B = 10.99.32.2; after the handshake A pinged
// B through the tunnel.
const (
	chachaKeyHex = "fa4a7eb249ca9c5e57897676fc38886c117775d85ba8fc6a0d3af3acd73e6d50"
	// packet 7, A -> B: data message carrying A's ICMP echo request.
	interopAtoB = "0000d97d6a04d0ae9867e82a222ac79fae8a2f4bcc81d74bd9d8ca87af495c9e83254eec1043fbea993b6e725f2bdcf4d2987941bc0cc3741dd51977f1884ad6371b5d456b1883149a09809005b116909e1b11c16ce5f30cb1249cc4987a11e8bfdb9bff2e600e09082ad4f568"
	// packet 8, B -> A: data message carrying B's echo reply.
	interopBtoA = "0000a4cc0e10c6c28c7636a9fedcfdbf66641fd33de2ccd9d7b48ddc05bf944867c54c83f211fbab86bdb701200cee497e7c220cba6969e18bec7383cef4ecf8c255a053f39060c93efb8a39f9bcda6aa8396d890f33c8d2e030795191eb69a9ce33a094fc185eb1e703987f9a"
	// packet 13, A -> B: the close message (type 0xFF, no body).
	interopClose = "0000d97d6a04d0b133ad8964b126af8c43602dd9620ce7d629"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// In this capture A sent with nonce half 0x80 (nonceHalf=true) and B with
// 0x00, so B's session is NewSession(ChaCha20, false, key, key).
func TestInteropVpnCloudPackets(t *testing.T) {
	key := mustHex(t, chachaKeyHex)
	nodeA, err := NewSession(ChaCha20, true, key, key)
	if err != nil {
		t.Fatal(err)
	}
	nodeB, err := NewSession(ChaCha20, false, key, key)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		pkt      string
		receiver *Session
		other    *Session
		wantLen  int
		check    func(t *testing.T, plain []byte)
	}{
		{"echo request A->B", interopAtoB, nodeB, nodeA, 85, func(t *testing.T, p []byte) {
			// type 0 (data), IPv4 10.95.32.1 -> 10.95.32.2, ICMP echo request.
			if p[0] != 0 || p[1] != 0x45 || p[1+9] != 1 || p[1+20] != 8 {
				t.Errorf("not a data message with an ICMP echo request: %x", p[:24])
			}
			if got := hex.EncodeToString(p[1+12 : 1+20]); got != "0a5f20010a5f2002" {
				t.Errorf("addresses %s", got)
			}
		}},
		{"echo reply B->A", interopBtoA, nodeA, nodeB, 85, func(t *testing.T, p []byte) {
			if p[0] != 0 || p[1] != 0x45 || p[1+20] != 0 {
				t.Errorf("not a data message with an ICMP echo reply: %x", p[:24])
			}
		}},
		{"close A->B", interopClose, nodeB, nodeA, 1, func(t *testing.T, p []byte) {
			if p[0] != 0xff {
				t.Errorf("close message type %#x", p[0])
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The wrong half (the sender's own session) must not open it.
			if _, err := c.other.Open(mustHex(t, c.pkt)); !errors.Is(err, ErrAuth) {
				t.Fatalf("opened with the sender's own half: %v", err)
			}
			plain, err := c.receiver.Open(mustHex(t, c.pkt))
			if err != nil {
				t.Fatal(err)
			}
			if len(plain) != c.wantLen {
				t.Fatalf("plaintext %d bytes, want %d", len(plain), c.wantLen)
			}
			c.check(t, plain)
			if _, err := c.receiver.Open(mustHex(t, c.pkt)); !errors.Is(err, ErrReplay) {
				t.Fatalf("replayed capture packet: %v", err)
			}
		})
	}
}

// TestInteropHandBuilt builds a packet from the documented layout with the
// raw cipher and the keylog key, independently of Seal.
func TestInteropHandBuilt(t *testing.T) {
	key := mustHex(t, chachaKeyHex)
	raw, err := chacha20poly1305.New(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte{0x80, 0, 0, 0, 0, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}
	msg := []byte{2}                       // keepalive-like: type byte only
	pkt := append([]byte{4}, nonce[5:]...) // key id 4 means slot 0
	pkt = raw.Seal(pkt, nonce, msg, nil)
	s, err := NewSession(ChaCha20, false, key, key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.Open(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, msg) {
		t.Fatalf("plain %x", plain)
	}
}
