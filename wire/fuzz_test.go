package wire

import (
	"reflect"
	"testing"
)

// FuzzDecodeNodeInfo: no input panics, and whatever decodes re-encodes to
// a message that decodes to the same node info (up to the encoder's limits).
func FuzzDecodeNodeInfo(f *testing.F) {
	f.Add(mustHex(f, realNodeInfoB))
	f.Add(mustHex(f, realPongPayloadB))
	// B's and A's node infos and A's peng payload from the plain capture.
	f.Add(mustHex(f, "040010b972109f15ea8398900e914aef0cffa401002388d3ce402640766e7849ebe5344784193200000000000000000000ffff0a6307020c8a020006040a5f070120030002012c0500130800000000000000000000ffff0a6307010c8a00"))
	f.Add(mustHex(f, "040010b972109f15ea8398900e914aef0cffa4010000020006040a5f070120030002012c0500130800000000000000000000ffff0a6307010c8a00"))
	f.Add(AppendNodeInfo(nil, sampleNodeInfo()))
	f.Add([]byte{0})
	f.Add([]byte{4, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ni, err := DecodeNodeInfo(b)
		if err != nil {
			return
		}
		if len(ni.Peers) > MaxDecodePeers || len(ni.Claims) > MaxClaims {
			t.Fatalf("bounds broken: %d peers, %d claims", len(ni.Peers), len(ni.Claims))
		}
		if len(ni.Peers) > MaxPeers {
			ni.Peers = ni.Peers[:MaxPeers]
		}
		again, err := DecodeNodeInfo(AppendNodeInfo(nil, ni))
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, ni) {
			t.Fatalf("re-encode changed it:\n %+v\n %+v", ni, again)
		}
	})
}

// FuzzRange: text and wire parsers never panic; what parses prints and
// encodes to something that parses back to the same range.
func FuzzRange(f *testing.F) {
	for _, s := range []string{"10.95.7.1/32", "10.95.7.2", "10.1.0.0/16", "fd00::/8",
		"aa:bb:cc:dd:ee:ff/48", "0.0.0.0/0", "1.2.3.4/", "/", "::ffff:1.2.3.4/120"} {
		f.Add(s, []byte{4, 10, 95, 7, 1, 32})
	}
	f.Add("", []byte{8, 0, 1, 2, 3, 4, 5, 6, 7, 64})
	f.Add("x", []byte{17})
	f.Fuzz(func(t *testing.T, text string, b []byte) {
		if r, err := ParseRange(text); err == nil {
			back, err := ParseRange(r.String())
			if err != nil || back != r {
				t.Fatalf("ParseRange(%q) = %v, printed %q parses to %v, %v", text, r, r.String(), back, err)
			}
			if !r.Contains(r.Base) {
				t.Fatalf("%v does not contain its base", r)
			}
		}
		if r, n, err := DecodeRange(b); err == nil {
			if n > len(b) {
				t.Fatalf("took %d of %d bytes", n, len(b))
			}
			enc := r.AppendTo(nil)
			if string(enc) != string(b[:n]) {
				t.Fatalf("re-encoded % x, was % x", enc, b[:n])
			}
			_ = r.String()
		}
	})
}
