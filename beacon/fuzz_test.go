package beacon

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// FuzzDecode: no text panics the decoder, and whatever decodes re-encodes
// to a beacon that decodes to the same addresses.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"WsHI31EWDMBYxvITiILIrm2k9gEik22E",
		"WsHI3GXKaXCveo6uejmZizZ72kR6Y0L9T7h49TXONp1ugfKvvvEik22E",
		"WsHI3-1E.WD:MB Yx\tvI\nTi(IL)Ir[m2]k9ügEäik22E",
		"ik22EWsHI31EWDMBYxvITiILIrm2k9gEik22EWsHI3",
		"WsHI3ik22E", "", "WsHI3WsHI3ik22Eik22E", "\xff\xfeWsHI3zzzzik22E",
	} {
		f.Add(s, int64(2000))
	}
	c := New("mysecretkey")
	f.Fuzz(func(t *testing.T, text string, hour int64) {
		now := time.Unix(hour*3600, 0)
		peers, err := c.Decode(text, now, DefaultTTL)
		if err != nil {
			if len(peers) != 0 {
				t.Fatalf("error %v with %d peers", err, len(peers))
			}
			return
		}
		if len(peers) > 255 {
			return // several beacons; one cannot hold more than 255 v4
		}
		again, err := c.Decode(c.Encode(peers, now), now, DefaultTTL)
		var v4, v6 []netip.AddrPort
		for _, p := range peers {
			if p.Addr().Unmap().Is4() {
				v4 = append(v4, netip.AddrPortFrom(p.Addr().Unmap(), p.Port()))
			} else {
				v6 = append(v6, p)
			}
		}
		if err != nil || !slices.Equal(again, append(v4, v6...)) {
			t.Fatalf("re-encoding %v decoded to %v, %v", peers, again, err)
		}
	})
}

// FuzzDecodeData: the middle part alone, any bytes.
func FuzzDecodeData(f *testing.F) {
	f.Add("1EWDMBYxvITiILIrm2k9gE")
	f.Add("zzzz")
	c := New("mysecretkey")
	f.Fuzz(func(t *testing.T, data string) {
		c.DecodeData(data, at2000, 0)
		c.DecodeData(data, at2000, time.Hour)
	})
}
