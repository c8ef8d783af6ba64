package udpio

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

// SteerSmall sends every small datagram to the first shard and every
// large one to the others, whoever sends it; each datagram arrives once.
func TestSteerSmall(t *testing.T) {
	for _, tc := range []struct{ name, addr, dst string }{{"v4", "127.0.0.1:0", "127.0.0.1"}, {"dual", ":0", "::1"}, {"dual-v4", ":0", "127.0.0.1"}} {
		t.Run(tc.name, func(t *testing.T) {
			shards, err := ListenShards(tc.addr, 3, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range shards {
				t.Cleanup(func() { s.Close() })
			}
			const max = 300
			if err := SteerSmall(shards, max); err != nil {
				t.Fatal(err)
			}
			to := netip.AddrPortFrom(netip.MustParseAddr(tc.dst), shards[0].LocalAddr().Port())
			// 32 senders, each with small and large datagrams in turn
			// (plain sockets: no GSO, so each datagram is its own skb).
			const peers, each = 32, 4
			sizes := []int{1, max, max + 1, 1400}
			for range peers {
				c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(to.Addr(), 0)))
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range sizes {
					if _, err := c.WriteToUDPAddrPort(make([]byte, n), to); err != nil {
						t.Fatal(err)
					}
				}
				c.Close()
			}
			count := make([]map[int]int, len(shards))
			for i, s := range shards {
				count[i] = make(map[int]int)
				for {
					in := makeMsgs(16, 2048)
					n, err := readNow(s, in)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						break
					}
					for _, m := range in[:n] {
						count[i][m.N]++
					}
				}
			}
			if count[0][1] != peers || count[0][max] != peers || len(count[0]) != 2 {
				t.Errorf("small shard got %v, want %d each of 1 and %d bytes only", count[0], peers, max)
			}
			for _, n := range sizes[2:] {
				if got := count[1][n] + count[2][n]; got != peers {
					t.Errorf("bulk shards got %d datagrams of %d bytes, want %d (%v, %v)", got, n, peers, count[1], count[2])
				}
			}
			if count[1][1]+count[2][1]+count[1][max]+count[2][max] != 0 {
				t.Errorf("small datagrams on bulk shards: %v, %v", count[1], count[2])
			}
		})
	}
	one, err := ListenShards("127.0.0.1:0", 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer one[0].Close()
	if err := SteerSmall(one, 100); !errors.Is(err, ErrSteerShards) {
		t.Fatalf("one shard: %v", err)
	}
}
