package interop

import (
	"crypto/ed25519"
	"slices"
	"testing"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/wire"
)

// vpncloudFields are the init-message fields VpnCloud 2.3.0 reads; it skips
// any other type (init.rs read_from), which is where peercloud's
// extension lives.
var vpncloudFields = []uint8{1, 2, 3, 4, 5}

// TestPeercloudAnswersVpnCloudPing feeds the ping of a real VpnCloud 2.3.0
// capture to a peercloud responder with the same password and checks that
// the pong it sends back is one VpnCloud accepts: signed by the trusted
// key, every field VpnCloud needs in VpnCloud's framing, an algorithm
// VpnCloud offered, and no extended key schedule (VpnCloud did not ask).
func TestPeercloudAnswersVpnCloudPing(t *testing.T) {
	for _, capture := range []string{"vpncloud-2.3.0-default.pcap", "vpncloud-2.3.0-aes128.pcap", "vpncloud-2.3.0-plain.pcap"} {
		t.Run(capture, func(t *testing.T) {
			pkts := readCapture(t, capture)
			ping := pkts[0].Payload
			id := handshake.IdentityFromPassword("fixture-password")
			trusted := []handshake.PublicKey{id.Public()}
			msg, _, err := handshake.ParseInit(ping, trusted)
			if err != nil || msg.Stage != handshake.StagePing {
				t.Fatalf("capture's first packet is no valid ping: %v", err)
			}
			cfg := &handshake.Config{
				Identity:   id,
				Algorithms: []handshake.AlgoSpeed{{Alg: aead.ChaCha20, Speed: 500}, {Alg: aead.AES128, Speed: 900}, {Alg: aead.AES256, Speed: 800}},
				AllowPlain: msg.AllowPlain,
				Extended:   true,
			}
			payload := wire.AppendNodeInfo(nil, &wire.NodeInfo{NodeID: wire.NodeID{1, 2, 3}, HasPeerTimeout: true, PeerTimeout: 300})
			responder, err := handshake.NewPeer(cfg, payload)
			if err != nil {
				t.Fatal(err)
			}
			res, err := responder.HandleInit(ping)
			if err != nil || len(res.Replies) != 1 || res.Established {
				t.Fatalf("HandleInit(VpnCloud ping) = %+v, %v", res, err)
			}
			pong := res.Replies[0]
			if pong[0] != wire.InitByte {
				t.Fatalf("reply starts with %#x", pong[0])
			}
			got, signer, err := handshake.ParseInit(pong, trusted)
			if err != nil || got.Stage != handshake.StagePong || signer != id.Public() {
				t.Fatalf("pong does not verify: %v (stage %d)", err, got.Stage)
			}
			// VpnCloud's own framing walk, and its signature check over the
			// signed part with the plain Ed25519 of the trusted key.
			fields, signed, sig, err := SplitInit(pong[1:])
			if err != nil {
				t.Fatal(err)
			}
			pub := id.Public()
			if !ed25519.Verify(ed25519.PublicKey(pub[:]), signed, sig) {
				t.Fatal("pong signature does not verify as VpnCloud checks it")
			}
			seen := map[uint8]bool{}
			for _, f := range fields {
				if slices.Contains(vpncloudFields, f.Type) {
					seen[f.Type] = true
				}
			}
			for _, need := range vpncloudFields {
				if !seen[need] {
					t.Errorf("pong lacks field %d that VpnCloud requires in a pong", need)
				}
			}
			if len(got.ECDHKey) != 32 {
				t.Errorf("ephemeral key of %d bytes", len(got.ECDHKey))
			}
			if msg.AllowPlain && !got.AllowPlain {
				t.Error("plain was allowed by both but not offered back")
			}
			alg, ok := handshake.SelectAlgorithm(got.Algorithms, got.AllowPlain, msg.Algorithms, msg.AllowPlain)
			if !ok || (alg != aead.Plain && !slices.ContainsFunc(msg.Algorithms, func(a handshake.AlgoSpeed) bool { return a.Alg == alg })) {
				t.Errorf("negotiated %v, which VpnCloud did not offer", alg)
			}
			if msg.Ext != nil {
				t.Error("the VpnCloud ping carries a peercloud extension")
			}
		})
	}
}
