package route

import (
	"errors"
	"testing"
)

func mk(l uint8, b ...byte) Key {
	k := Key{Len: l}
	copy(k.Data[:], b)
	return k
}

// Vectors from VpnCloud 2.3.0 payload.rs tests, plus tagged-frame cases.
func TestIPAddrsVpnCloudVectors(t *testing.T) {
	v4 := []byte{0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 168, 1, 1, 192, 168, 1, 2}
	src, dst, err := IPAddrs(v4)
	if err != nil || src != mk(4, 192, 168, 1, 1) || dst != mk(4, 192, 168, 1, 2) {
		t.Fatalf("IPv4: %v %v %v", src, dst, err)
	}
	v6 := []byte{0x60, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 6, 5,
		4, 3, 2, 1}
	src, dst, err = IPAddrs(v6)
	if err != nil || src != mk(16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6) ||
		dst != mk(16, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 6, 5, 4, 3, 2, 1) {
		t.Fatalf("IPv6: %v %v %v", src, dst, err)
	}
	if k, err := IPSrc(v4); err != nil || k != src4(v4) {
		t.Fatalf("IPSrc = %v %v", k, err)
	}
	if k, err := IPDst(v6); err != nil || k != dst {
		t.Fatalf("IPDst = %v %v", k, err)
	}
	// Only the version nibble and the length matter (IHL, options ignored).
	v4[0] = 0x4f
	if _, err := IPDst(append(v4, 1, 2, 3)); err != nil {
		t.Fatalf("IPv4 with other IHL: %v", err)
	}
}

func src4(p []byte) Key { return mk(4, p[12:16]...) }

func TestIPAddrsErrors(t *testing.T) {
	v6 := make([]byte, 40)
	v6[0] = 0x60
	v4 := make([]byte, 20)
	v4[0] = 0x45
	for n := 0; n < 20; n++ {
		if _, err := IPDst(v4[:n]); !errors.Is(err, ErrShort) {
			t.Errorf("IPv4 truncated to %d: %v, want ErrShort", n, err)
		}
	}
	for n := 1; n < 40; n++ {
		if _, err := IPSrc(v6[:n]); !errors.Is(err, ErrShort) {
			t.Errorf("IPv6 truncated to %d: %v, want ErrShort", n, err)
		}
	}
	for _, v := range []byte{0x00, 0x20, 0x50, 0x70, 0xf0} {
		if _, err := IPDst(append([]byte{v}, make([]byte, 39)...)); !errors.Is(err, ErrVersion) {
			t.Errorf("version %x: %v, want ErrVersion", v>>4, err)
		}
	}
}

func TestMACAddrsUntagged(t *testing.T) {
	f := []byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 7, 8}
	src, dst, err := MACAddrs(f)
	if err != nil || src != mk(6, 1, 2, 3, 4, 5, 6) || dst != mk(6, 6, 5, 4, 3, 2, 1) {
		t.Fatalf("untagged: %v %v %v", src, dst, err)
	}
	// 14 bytes (no payload) is enough; 0x88a8 is not a tag.
	f = []byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x88, 0xa8}
	if k, err := MACSrc(f); err != nil || k != mk(6, 1, 2, 3, 4, 5, 6) {
		t.Fatalf("QinQ outer tag: %v %v", k, err)
	}
}

func TestMACAddrsVLAN(t *testing.T) {
	f := []byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0, 4, 210, 1, 2, 3, 4, 5, 6, 7, 8}
	src, dst, err := MACAddrs(f)
	if err != nil || src != mk(8, 4, 210, 1, 2, 3, 4, 5, 6) || dst != mk(8, 4, 210, 6, 5, 4, 3, 2, 1) {
		t.Fatalf("tagged: %v %v %v", src, dst, err)
	}
	// Priority and DEI bits are cleared: the key holds the 12-bit VLAN id.
	f[14] = 0xe4 // PCP 7, DEI 0, id high nibble 4
	if k, err := MACDst(f); err != nil || k != mk(8, 4, 210, 6, 5, 4, 3, 2, 1) {
		t.Fatalf("PCP not masked: %v %v", k, err)
	}
	// VLAN id 0 stays an 8-byte key: VpnCloud 2.3.0's "treat vlan 0 as
	// untagged" branch never runs (`src[0..1] == [0, 0]` is always false;
	// checked with rustc).
	f[14], f[15] = 0xf0, 0
	if k, err := MACSrc(f); err != nil || k != mk(8, 0, 0, 1, 2, 3, 4, 5, 6) {
		t.Fatalf("VLAN 0: %v %v", k, err)
	}
	// Exactly 16 bytes is enough; nested tags are ignored.
	g := []byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0, 0x0f, 0xff}
	if k, err := MACDst(g); err != nil || k != mk(8, 0x0f, 0xff, 6, 5, 4, 3, 2, 1) {
		t.Fatalf("16-byte tagged frame: %v %v", k, err)
	}
}

func TestMACAddrsTruncated(t *testing.T) {
	f := []byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0, 4, 210}
	for n := 0; n < 14; n++ {
		if _, err := MACDst(f[:n]); !errors.Is(err, ErrShort) {
			t.Errorf("frame truncated to %d: %v, want ErrShort", n, err)
		}
	}
	for n := 14; n < 16; n++ {
		if _, _, err := MACAddrs(f[:n]); !errors.Is(err, ErrShort) {
			t.Errorf("tagged frame truncated to %d: %v, want ErrShort", n, err)
		}
	}
}

func TestParsersDoNotAllocate(t *testing.T) {
	ip := make([]byte, 40)
	ip[0] = 0x60
	frame := []byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0, 4, 210}
	var sink Key
	allocs := testing.AllocsPerRun(1000, func() {
		a, _ := IPDst(ip)
		b, _ := IPSrc(ip)
		c, _ := MACDst(frame)
		d, _ := MACSrc(frame)
		sink.Data[0] += a.Data[0] + b.Data[0] + c.Data[0] + d.Data[0]
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per parse", allocs)
	}
}

// FuzzIPAddrs checks the IP parser never panics and agrees with a direct
// reading of the header.
func FuzzIPAddrs(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Add(append([]byte{0x60}, make([]byte, 39)...))
	f.Add([]byte{0x60, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		src, dst, err := IPAddrs(b)
		if err != nil {
			return
		}
		switch b[0] >> 4 {
		case 4:
			if src != mk(4, b[12:16]...) || dst != mk(4, b[16:20]...) {
				t.Fatalf("IPv4 %x: %v %v", b, src, dst)
			}
		case 6:
			if src != mk(16, b[8:24]...) || dst != mk(16, b[24:40]...) {
				t.Fatalf("IPv6 %x: %v %v", b, src, dst)
			}
		default:
			t.Fatalf("accepted version %d", b[0]>>4)
		}
	})
}

// FuzzMACAddrs checks the frame parser never panics and gives 6- or 8-byte
// keys with the MACs in place.
func FuzzMACAddrs(f *testing.F) {
	f.Add([]byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0, 4, 210, 1, 2})
	f.Add([]byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x81, 0})
	f.Add([]byte{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 0x08, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		src, dst, err := MACAddrs(b)
		if err != nil {
			return
		}
		off := 0
		if src.Len == 8 {
			off = 2
			if src.Data[0] > 0x0f || [2]byte(src.Data[:2]) != [2]byte(dst.Data[:2]) {
				t.Fatalf("bad VLAN id in %v %v", src, dst)
			}
		} else if src.Len != 6 {
			t.Fatalf("key length %d", src.Len)
		}
		if string(dst.Data[off:off+6]) != string(b[0:6]) || string(src.Data[off:off+6]) != string(b[6:12]) {
			t.Fatalf("%x: %v %v", b, src, dst)
		}
	})
}
