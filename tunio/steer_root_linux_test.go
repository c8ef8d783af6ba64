package tunio_test

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
)

// TestRootSteerSmall: with the steering program, every packet the kernel
// sends of at most the limit lands on queue 0 and every larger one on the
// other queues, both with offloads on and off.
func TestRootSteerSmall(t *testing.T) {
	for _, tc := range offloadModes {
		t.Run(tc.name, func(t *testing.T) {
			dev, sock := deviceWithSocket(t, tunio.Options{MultiQueue: 3, DisableOffloads: tc.disable}, "10.93.0.1/24", net.IPv4(10, 93, 0, 1))
			const max = 256
			if err := dev.SteerSmall(max); err != nil {
				t.Fatal(err)
			}
			// UDP payloads of 100 and 228 bytes make IPv4 packets of 128 and
			// 256 (small); 229 and 1000 make 257 and 1028 (bulk).
			payloads := []int{100, max - 28, max - 27, 1000}
			const rounds = 20
			var mu sync.Mutex
			got := make([]map[int]int, 3) // queue -> IP length -> count
			var wg sync.WaitGroup
			for i, q := range dev.Queues() {
				got[i] = make(map[int]int)
				wg.Add(1)
				go func() {
					defer wg.Done()
					bufs, sizes := [][]byte{make([]byte, 2048), make([]byte, 2048)}, []int{0, 0}
					for {
						n, err := q.Read(bufs, sizes, 0)
						if err != nil {
							return
						}
						for k := range n {
							p := bufs[k][:sizes[k]]
							if _, d, _, ok := tuntest.ParseUDPPacket(p); ok && d.Addr() == netip.MustParseAddr("10.93.0.2") {
								mu.Lock()
								got[i][len(p)]++
								mu.Unlock()
							}
						}
					}
				}()
			}
			for r := range rounds {
				for _, n := range payloads {
					dst := netip.AddrPortFrom(netip.MustParseAddr("10.93.0.2"), uint16(2000+r))
					if _, err := sock.WriteToUDPAddrPort(make([]byte, n), dst); err != nil {
						t.Fatal(err)
					}
				}
			}
			total := func() int {
				mu.Lock()
				defer mu.Unlock()
				s := 0
				for _, m := range got {
					for _, c := range m {
						s += c
					}
				}
				return s
			}
			deadline := time.Now().Add(5 * time.Second)
			for total() < rounds*len(payloads) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			dev.Close()
			wg.Wait()
			if got[0][128] != rounds || got[0][max] != rounds || len(got[0]) != 2 {
				t.Errorf("queue 0 read %v, want %d each of 128 and %d bytes only", got[0], rounds, max)
			}
			for _, n := range []int{max + 1, 1028} {
				if c := got[1][n] + got[2][n]; c != rounds {
					t.Errorf("queues 1, 2 read %d packets of %d bytes, want %d (%v, %v)", c, n, rounds, got[1], got[2])
				}
			}
		})
	}
	ns := newNetns(t)
	inNetns(t, ns, func() {
		dev, err := tunio.Open(tunio.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer dev.Close()
		if err := dev.SteerSmall(256); !errors.Is(err, tunio.ErrSteerQueues) {
			t.Errorf("one queue: %v", err)
		}
	})
}
