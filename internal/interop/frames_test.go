package interop

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/peercloud/peercloud/wire"
)

// Plaintext sizes (type byte + body) of the messages in the captures.
const (
	sizeClose    = 1  // close (and keepalive) carry the type byte only
	sizeRotation = 43 // type 0x10 + rotation message: id, proposed key, no confirmation
	sizeConfirm  = 75 // type 0x10 + rotation message with a confirmed key
	sizeData     = 85 // type 0 + 84-byte IPv4 ICMP packet
	sizeNodeInfo = 95 // type 1 + node info with one peer
)

var captureCases = []struct {
	file  string
	algos []byte // algorithm ids A offers in its ping
	sizes []int  // UDP payload sizes in order; nil: only count
	count int
}{
	{"vpncloud-2.3.0-plain.pcap", []byte{0}, []int{145, 207, 164, 95, 95, 85, 85, 85, 85, 85, 85, 1}, 12},
	{"vpncloud-2.3.0-aes128.pcap", []byte{1}, []int{145, 231, 188, 67, 119, 119, 109, 109, 109, 109, 109, 109}, 12},
	{"vpncloud-2.3.0-default.pcap", []byte{1, 2, 3}, []int{155, 241, 188, 67, 119, 119, 109, 109, 109, 109, 109, 109, 25}, 13},
	{"vpncloud-2.3.0-chacha20.pcap", []byte{3}, []int{145, 231, 231, 188, 188, 67, 119, 109, 109, 109, 109, 109, 109, 25}, 14},
	{"vpncloud-2.3.0-aes256.pcap", []byte{2}, []int{145, 145, 231, 231, 231, 188, 188, 188, 67, 109, 109, 109, 109, 109, 109}, 15},
	{"vpncloud-2.3.0-aes128-rotation.pcap", []byte{1}, nil, 195},
}

// TestFrameEveryPacket frames every packet of every capture: handshakes
// split into their TLV fields with stages 1 (A), 2 (B), 3 (A); encrypted
// packets carry a key id 0..3, a per-sender per-key counter that only goes
// up, and a sealed part of known plaintext size + 16-byte tag.
func TestFrameEveryPacket(t *testing.T) {
	for _, c := range captureCases {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(c.file, "vpncloud-2.3.0-"), ".pcap"), func(t *testing.T) {
			ps := readCapture(t, c.file)
			if len(ps) != c.count {
				t.Fatalf("%d packets, want %d", len(ps), c.count)
			}
			plain := c.algos[0] == 0
			a := ps[0].Src // A sends the first ping
			type stream struct {
				src string
				key uint8
			}
			last := map[stream]uint64{}
			var handshakes, encrypted int
			for i, p := range ps {
				if c.sizes != nil && len(p.Payload) != c.sizes[i] {
					t.Errorf("packet %d: %d bytes, want %d", i, len(p.Payload), c.sizes[i])
				}
				if plain && i >= 3 {
					// After the handshake a plain session sends type byte +
					// body (its close is a lone 0xFF, not a handshake):
					// TestPlainCapture decodes these.
					continue
				}
				f, err := ParseFrame(p.Payload)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if f.Handshake {
					handshakes++
					stage, fields := initParts(t, p.Payload)
					if wantA := stage != 2; (p.Src == a) != wantA {
						t.Errorf("packet %d: stage %d from %v", i, stage, p.Src)
					}
					if len(fields[2]) != 20 {
						t.Errorf("packet %d: salted node id hash of %d bytes", i, len(fields[2]))
					}
					if stage == 1 {
						if len(fields[3]) != 32 {
							t.Errorf("ping: X25519 key of %d bytes", len(fields[3]))
						}
						alg := fields[4]
						var ids []byte
						for j := 0; j+5 <= len(alg); j += 5 {
							ids = append(ids, alg[j])
						}
						if len(alg)%5 != 0 || !bytes.Equal(ids, c.algos) {
							t.Errorf("ping algorithms % x, want ids % x", alg, c.algos)
						}
					}
					if stage >= 2 {
						// The node-info payload: 59 bytes (no peers yet), plus
						// the encryption overhead unless plain.
						want := 59
						if !plain {
							want += headerLen + tagLen
						}
						if len(fields[5]) != want {
							t.Errorf("stage %d payload of %d bytes, want %d", stage, len(fields[5]), want)
						}
					}
					continue
				}
				encrypted++
				switch n := f.Sealed - tagLen; n {
				case sizeClose, sizeRotation, sizeConfirm, sizeData, sizeNodeInfo:
				default:
					t.Errorf("packet %d: plaintext of %d bytes", i, n)
				}
				s := stream{p.Src.String(), f.KeyID}
				if prev, ok := last[s]; ok && f.Counter <= prev {
					t.Errorf("packet %d: counter %x after %x", i, f.Counter, prev)
				}
				last[s] = f.Counter
			}
			if handshakes < 3 {
				t.Errorf("%d handshake packets", handshakes)
			}
			if !plain && handshakes+encrypted != len(ps) {
				t.Errorf("%d handshake + %d encrypted of %d", handshakes, encrypted, len(ps))
			}
		})
	}
}

func TestParseFrameErrors(t *testing.T) {
	for _, pkt := range [][]byte{
		nil,
		{4, 0, 0, 0, 0, 0, 0, 0},
		make([]byte, headerLen+tagLen), // no room for the type byte
	} {
		if f, err := ParseFrame(pkt); !errors.Is(err, ErrFrame) {
			t.Errorf("ParseFrame(% x) = %+v, %v", pkt, f, err)
		}
	}
	pkt := append([]byte{3, 0, 0, 0, 0, 0, 1, 2}, make([]byte, 17)...)
	f, err := ParseFrame(pkt)
	if err != nil || f.Handshake || f.KeyID != 3 || f.Counter != 0x102 || f.Sealed != 17 {
		t.Errorf("ParseFrame = %+v, %v", f, err)
	}
	f, err = ParseFrame([]byte{wire.InitByte, 1, 2})
	if err != nil || !f.Handshake || !bytes.Equal(f.Init, []byte{1, 2}) {
		t.Errorf("ParseFrame = %+v, %v", f, err)
	}
}

func TestSplitInitEveryTruncationFails(t *testing.T) {
	ps := readCapture(t, "vpncloud-2.3.0-default.pcap")
	msg := ps[1].Payload[1:] // the pong
	fields, signed, sig, err := SplitInit(msg)
	if err != nil || len(fields) != 5 || len(sig) != 64 || len(signed)+1+64 != len(msg) {
		t.Fatalf("SplitInit = %d fields, %d signed, %d sig, %v", len(fields), len(signed), len(sig), err)
	}
	if fields[0].Type != 1 || binary.BigEndian.Uint16(msg[9:]) != 1 {
		t.Errorf("first field %+v", fields[0])
	}
	for n := range len(msg) {
		if _, _, _, err := SplitInit(msg[:n]); !errors.Is(err, ErrFrame) {
			t.Errorf("%d of %d bytes: %v", n, len(msg), err)
		}
	}
	if _, _, _, err := SplitInit(append(msg[:len(msg):len(msg)], 0)); !errors.Is(err, ErrFrame) {
		t.Errorf("trailing byte: %v", err)
	}
}

func TestParseKeylog(t *testing.T) {
	evs, err := ParseKeylog(strings.NewReader("master 0 true 0011\n\nrotate-cycle 6 false ff\n"))
	if err != nil || len(evs) != 2 {
		t.Fatalf("%+v %v", evs, err)
	}
	if evs[0].Event != "master" || evs[0].ID != 0 || !evs[0].UseForSending || !bytes.Equal(evs[0].Key, []byte{0, 0x11}) {
		t.Errorf("%+v", evs[0])
	}
	if evs[1].Event != "rotate-cycle" || evs[1].ID != 6 || evs[1].UseForSending {
		t.Errorf("%+v", evs[1])
	}
	for _, bad := range []string{"master 0 true", "master x true 00", "master 0 maybe 00", "master 0 true zz", "master 0 true \"\" x"} {
		if _, err := ParseKeylog(strings.NewReader(bad)); !errors.Is(err, ErrKeylog) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
