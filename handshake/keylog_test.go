package handshake

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/peercloud/peercloud/aead"
)

type logLine struct {
	event string
	id    uint64
	send  bool
	key   []byte
}

func parseKeylogLines(t *testing.T, b []byte) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("keylog line %q: %d fields", l, len(f))
		}
		id, err1 := strconv.ParseUint(f[1], 10, 64)
		send, err2 := strconv.ParseBool(f[2])
		key, err3 := hex.DecodeString(f[3])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("keylog line %q: %v %v %v", l, err1, err2, err3)
		}
		out = append(out, logLine{f[0], id, send, key})
	}
	return out
}

// TestKeyLog checks Config.KeyLog: VpnCloud's line format with one shared
// key per event for VpnCloud's key schedule, EVENT/send and EVENT/recv lines
// with the extended one; the logged keys are the session's (a packet one
// side seals opens with the other side's logged receive key), and rotated
// keys are logged as they are installed.
func TestKeyLog(t *testing.T) {
	for _, ext := range []bool{false, true} {
		var la, lb bytes.Buffer
		a := newTestPeer(t, 41, "A", func(c *Config) { c.Extended = ext; c.KeyLog = &la })
		b := newTestPeer(t, 42, "B", func(c *Config) { c.Extended = ext; c.KeyLog = &lb })
		s := newSim(t, a, b)
		s.handshake(10)
		for i := 0; i < 2*RotateInterval+2; i++ {
			s.tick()
		}
		ka, kb := parseKeylogLines(t, la.Bytes()), parseKeylogLines(t, lb.Bytes())
		events := map[string]int{}
		for _, l := range ka {
			events[l.event]++
			if len(l.key) != a.Algorithm().KeyLen() {
				t.Fatalf("ext=%v: %d-byte key for %v", ext, len(l.key), a.Algorithm())
			}
		}
		master, recvOfB := "master", "master"
		if ext {
			master, recvOfB = "master/send", "master/recv"
			if events["master/send"] != 1 || events["master/recv"] != 1 || events["rotate-cycle/send"] == 0 || events["rotate-recv-msg/recv"] == 0 {
				t.Fatalf("ext: events %v", events)
			}
		} else if events["master"] != 1 || events["rotate-cycle"] == 0 || events["rotate-recv-msg"] == 0 {
			t.Fatalf("vpncloud: events %v", events)
		}
		find := func(ls []logLine, ev string) []byte {
			for _, l := range ls {
				if l.event == ev {
					return l.key
				}
			}
			t.Fatalf("ext=%v: no %s line", ext, ev)
			return nil
		}
		if !bytes.Equal(find(ka, master), find(kb, recvOfB)) {
			t.Fatalf("ext=%v: A's sending key is not B's receiving key", ext)
		}
		// A fresh handshake logs master keys that open A's first packet.
		la.Reset()
		lb.Reset()
		a2 := newTestPeer(t, 43, "A", func(c *Config) { c.Extended = ext; c.KeyLog = &la })
		b2 := newTestPeer(t, 44, "B", func(c *Config) { c.Extended = ext; c.KeyLog = &lb })
		newSim(t, a2, b2).handshake(10)
		pkt, err := sealPacket(a2.Session(), []byte{0, 'x'})
		if err != nil {
			t.Fatal(err)
		}
		key := find(parseKeylogLines(t, lb.Bytes()), recvOfB)
		view, err := aead.NewSession(b2.Algorithm(), b2.Session().NonceHalf(), key, key)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := view.Open(pkt); err != nil || !bytes.Equal(pt, []byte{0, 'x'}) {
			t.Fatalf("ext=%v: logged key does not open A's packet: %v", ext, err)
		}
	}
}

// TestRelayFlag checks that ExtFlagRelay is announced and seen only between
// extended peers that set Config.Relay.
func TestRelayFlag(t *testing.T) {
	for _, c := range []struct {
		extA, relayA, extB, relayB bool
		aSeesB, bSeesA             bool
	}{
		{true, true, true, true, true, true},
		{true, true, true, false, false, true},
		{true, false, true, true, true, false},
		{false, true, true, true, false, false},
		{true, true, false, true, false, false},
	} {
		a := newTestPeer(t, 51, "A", func(cfg *Config) { cfg.Extended, cfg.Relay = c.extA, c.relayA })
		b := newTestPeer(t, 52, "B", func(cfg *Config) { cfg.Extended, cfg.Relay = c.extB, c.relayB })
		newSim(t, a, b).handshake(10)
		if a.PeerRelays() != c.aSeesB || b.PeerRelays() != c.bSeesA {
			t.Errorf("%+v: A sees B relaying %v, B sees A %v", c, a.PeerRelays(), b.PeerRelays())
		}
	}
}
