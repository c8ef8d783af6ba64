package pipeline

import (
	"testing"

	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
	"github.com/peercloud/peercloud/udpio/udptest"
)

func TestRingsReportOccupancy(t *testing.T) {
	conn, _ := udptest.NewNetwork().Listen(addrA)
	p := New(Config{Batches: 8}, tuntest.NewChannelTUN("a", tunio.TUN, 1400), conn, nil)
	rings := p.Rings()
	for _, r := range rings {
		wantLen := 0
		if r.Ring == "free" {
			wantLen = 8 // every batch starts on the free ring
		}
		if r.Len != wantLen || r.Cap != 8 {
			t.Errorf("%s/%s: len %d cap %d, want %d 8", r.Direction, r.Ring, r.Len, r.Cap, wantLen)
		}
	}
	b, _ := p.out.free.TryPop()
	p.out.work.TryPush(b)
	if r := p.Rings(); r[0].Len != 7 || r[1].Len != 1 {
		t.Errorf("after moving a batch: free %d work %d, want 7 1", r[0].Len, r[1].Len)
	}
	if n := testing.AllocsPerRun(100, func() { rings = p.Rings() }); n != 0 {
		t.Errorf("Rings allocates %v times", n)
	}
}
