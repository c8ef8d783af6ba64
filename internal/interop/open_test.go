package interop

import (
	"errors"
	"testing"

	"github.com/peercloud/peercloud/wire"
)

// TestOpenWithKeyCaptures opens every encrypted packet of the keylogged
// captures with OpenWithKey and the keys of both key logs, without package
// aead; and refuses them with a key that is not in the logs.
func TestOpenWithKeyCaptures(t *testing.T) {
	for _, kc := range keyedCaptures {
		keys := append(readKeylog(t, kc.name+".A.keylog"), readKeylog(t, kc.name+".B.keylog")...)
		opened, total := 0, 0
		for i, p := range readCapture(t, kc.name+".pcap") {
			if p.Payload[0] == wire.InitByte {
				continue
			}
			total++
			ok := false
			for _, k := range keys {
				if pt, err := OpenWithKey(k.Key, p.Payload); err == nil && len(pt) > 0 {
					ok = true
					break
				}
			}
			if !ok {
				t.Errorf("%s packet %d: no logged key opens it", kc.name, i)
			} else {
				opened++
			}
			wrong := make([]byte, len(keys[0].Key))
			if _, err := OpenWithKey(wrong, p.Payload); !errors.Is(err, ErrNotOpened) {
				t.Errorf("%s packet %d: a zero key: %v, want ErrNotOpened", kc.name, i, err)
			}
		}
		if opened == 0 || opened != total {
			t.Errorf("%s: opened %d of %d", kc.name, opened, total)
		}
	}
	if _, err := OpenWithKey(make([]byte, 16), []byte{0xFF, 1, 2}); !errors.Is(err, ErrFrame) {
		t.Errorf("handshake: %v, want ErrFrame", err)
	}
	if _, err := OpenWithKey(make([]byte, 16), []byte{0, 1}); !errors.Is(err, ErrFrame) {
		t.Errorf("short packet: %v, want ErrFrame", err)
	}
}
