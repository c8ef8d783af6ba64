package handshake

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// udpPacket is one UDP payload of a capture with its IPv4 source.
type udpPacket struct {
	src     netip.Addr
	payload []byte
}

// readCapture is a tiny test-only pcap reader: 24-byte global header,
// 16-byte little-endian record headers, Ethernet 14 + IPv4 20 + UDP 8.
func readCapture(t testing.TB, name string) []udpPacket {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(interopDir, name))
	if err != nil {
		t.Fatalf("read capture: %v", err)
	}
	if len(data) < 24 || binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 {
		t.Fatalf("%s: not a little-endian pcap", name)
	}
	var out []udpPacket
	for off := 24; off+16 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+8:]))
		rec := data[off+16 : off+16+n]
		off += 16 + n
		if len(rec) < 42 || rec[12] != 0x08 || rec[13] != 0x00 || rec[23] != 17 {
			continue
		}
		src, _ := netip.AddrFromSlice(rec[26:30])
		out = append(out, udpPacket{src: src, payload: append([]byte(nil), rec[42:]...)})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no UDP packets", name)
	}
	return out
}

var captureNames = []string{
	"vpncloud-2.3.0-plain.pcap",
	"vpncloud-2.3.0-aes128.pcap",
	"vpncloud-2.3.0-default.pcap",
	"vpncloud-2.3.0-aes128-rotation.pcap",
	"vpncloud-2.3.0-chacha20.pcap",
	"vpncloud-2.3.0-aes256.pcap",
}

// captureInits returns every handshake packet of every capture.
func captureInits(t testing.TB) [][]byte {
	var out [][]byte
	for _, name := range captureNames {
		for _, p := range readCapture(t, name) {
			if len(p.payload) > 0 && p.payload[0] == InitByte && len(p.payload) > 100 {
				out = append(out, p.payload)
			}
		}
	}
	return out
}

type keylogEntry struct {
	event string
	id    uint64
	send  bool
	key   []byte
}

func readKeylog(t testing.TB, name string) []keylogEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(interopDir, name))
	if err != nil {
		t.Fatalf("keylog: %v", err)
	}
	defer f.Close()
	var out []keylogEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 {
			continue
		}
		id, _ := strconv.ParseUint(fs[1], 10, 64)
		key, err := hex.DecodeString(fs[3])
		if err != nil {
			t.Fatalf("keylog key: %v", err)
		}
		out = append(out, keylogEntry{fs[0], id, fs[2] == "true", key})
	}
	return out
}
