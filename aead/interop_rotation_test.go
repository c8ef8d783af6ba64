package aead

import (
	"fmt"
	"testing"
)

// Packets and keys of the keylogged AES-128 rotation capture
// (vpncloud-2.3.0-aes128-rotation.pcap, *.A.keylog, *.B.keylog): A =
// 10.99.31.1, B = 10.99.31.2. After two rotation turns A sends under key id
// 3 and B under key id 2.
const (
	rotKey0 = "46475d21849f0d73696e7c4da3321fab" // master
	rotKey2 = "c5ab33610eb3c33cac228ce9ce3351ab" // B's send key from turn 2
	rotKey3 = "274664cb4538b1a3c9add556f32e40a3" // A's send key from turn 3
	// B -> A, key id 0: the first key-rotation message (type 0x10).
	rotB0Rotation = "0000f3314fc8494d492485dbca75e88e313d59a16ea21d65099b3e40ae1812eda10d80bd575adcd91b6bd691226b1ba89c96626d1617698a28b4339efb0062f97bf46b"
	// A -> B, key id 0, a data packet (ping).
	rotA0Data = "0000b169f3134dc4354f9e282ea106f5fa6e51fc399378f69dc08246d1d0d240a7ef0d583060adc23ee7a34e8e9e6d5dbacacb669b930203cf88f390861cfab9af2e352cf59c0370ce42ca34bf820a220a1c85af746597aeed97aaec617a3b2593d3a586ea84910e85a2b07678"
	// B -> A, key id 2, a data packet.
	rotB2Data = "02001e502283dedf1a5cee83b6f6375d6b24422fd73f4caf7ad892f49d38bb1a6f7afbaaaedabdf458aae8a6995f5193758bafa843511efe10603678f4c942a41d006a842d07489c2bc76db419308a3d753b4c68afdcf2ae64f7957975db070b36b96d539ccbfdf4fe17f59496"
	// A -> B, key id 3, a data packet.
	rotA3Data = "0300d84244f1eb2647eb01a226ae4d893d3c4d24917b0cdf218643f03f1c6b7924ff599c386ced67f8a2099424d1a064c2b999a460ce805a1e1030817377493d9de43eac33c751be3477206a452405206c4c12164a2bad4c14273e8c53e18b90966714549d504780f059e987a1"
)

func TestInteropRotationCapture(t *testing.T) {
	k0, k2, k3 := mustHex(t, rotKey0), mustHex(t, rotKey2), mustHex(t, rotKey3)
	// Build each node's session as its keylog says: master in slot 0, then
	// the rotated keys, with the send slot where the node ended up.
	node := func(half bool, sendSlot int) *Session {
		s, err := NewSession(AES128, half, k0, k0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Install(2, k2, k2, sendSlot == 2); err != nil {
			t.Fatal(err)
		}
		if err := s.Install(3, k3, k3, sendSlot == 3); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, halfA := range []bool{true, false} {
		a, b := node(halfA, 3), node(!halfA, 2)
		var failed []string
		for _, c := range []struct {
			name string
			pkt  string
			recv *Session
			typ  byte
		}{
			{"B->A rotation msg, key 0", rotB0Rotation, a, 0x10},
			{"A->B data, key 0", rotA0Data, b, 0},
			{"B->A data, key 2", rotB2Data, a, 0},
			{"A->B data, key 3", rotA3Data, b, 0},
		} {
			plain, err := c.recv.Open(mustHex(t, c.pkt))
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", c.name, err))
				continue
			}
			if plain[0] != c.typ {
				t.Errorf("%s: message type %#x, want %#x", c.name, plain[0], c.typ)
			}
			if c.typ == 0 && plain[1] != 0x45 {
				t.Errorf("%s: not an IPv4 packet: %x", c.name, plain[:8])
			}
		}
		// In this capture A held nonce half 0x80: with it every packet opens,
		// with the halves swapped none does.
		if halfA && len(failed) != 0 {
			t.Errorf("A half=true: %v", failed)
		}
		if !halfA && len(failed) != 4 {
			t.Errorf("swapped halves opened %d packets", 4-len(failed))
		}
	}
}
