package handshake

import (
	"encoding/hex"
	"io"
	"strconv"
)

// Key logging (Config.KeyLog), for debugging and for tests that prove who
// can read what.
//
// For a session with VpnCloud's key schedule (one key for both directions)
// each installed key is one line, exactly as the VpnCloud build of the
// interop captures writes it:
//
//	master 0 true 46475d21849f0d73696e7c4da3321fab
//	rotate-cycle 2 false c5ab3361...
//	rotate-recv-msg 3 true 27466...
//
// With peercloud's extended key schedule the directions have different
// keys, so each event is two lines, EVENT/send and EVENT/recv (same id and
// flag). The file holds keys only: which peer a key belongs to is not
// recorded.

// logKeys writes the keylog line(s) of one installed key to w (nil: none).
// Write errors are ignored: the keylog is a debugging aid and must never
// break a session.
func logKeys(w io.Writer, event string, id uint64, useForSending, directional bool, send, recv []byte) {
	if w == nil {
		return
	}
	if !directional {
		_, _ = w.Write(keylogLine(event, id, useForSending, send))
		return
	}
	_, _ = w.Write(keylogLine(event+"/send", id, useForSending, send))
	_, _ = w.Write(keylogLine(event+"/recv", id, useForSending, recv))
}

func keylogLine(event string, id uint64, useForSending bool, key []byte) []byte {
	b := make([]byte, 0, len(event)+len(key)*2+32)
	b = append(b, event...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, id, 10)
	b = append(b, ' ')
	b = strconv.AppendBool(b, useForSending)
	b = append(b, ' ')
	b = hex.AppendEncode(b, key)
	return append(b, '\n')
}
