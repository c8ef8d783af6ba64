package aead

import (
	"fmt"
	"testing"
)

var benchSizes = []int{64, 1400, 9000}

func BenchmarkSeal(b *testing.B) {
	for _, alg := range []Algorithm{AES128, AES256, ChaCha20} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", alg, n), func(b *testing.B) {
				s, _ := pair(b, alg)
				buf := make([]byte, HeaderLen+n+TagLen)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Seal(buf, n); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpen opens pre-sealed packets (each counter once), copying each
// into the work buffer first, as a receive path does not; the copy is
// included in the figure.
func BenchmarkOpen(b *testing.B) {
	for _, alg := range []Algorithm{AES128, AES256, ChaCha20} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", alg, n), func(b *testing.B) {
				s, r := pair(b, alg)
				const ring = 1024
				pkts := make([][]byte, ring)
				buf := make([]byte, HeaderLen+n+TagLen)
				refill := func() {
					for i := range pkts {
						p, err := s.Seal(buf, n)
						if err != nil {
							b.Fatal(err)
						}
						pkts[i] = append(pkts[i][:0], p...)
					}
				}
				refill()
				b.SetBytes(int64(n))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if i == ring {
						b.StopTimer()
						refill()
						i = 0
						b.StartTimer()
					}
					copy(buf, pkts[i])
					if _, err := r.Open(buf); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkSealParallel is many crypto workers sealing for one peer.
func BenchmarkSealParallel(b *testing.B) {
	for _, alg := range []Algorithm{AES128, ChaCha20} {
		b.Run(fmt.Sprintf("%s/1400", alg), func(b *testing.B) {
			s, _ := pair(b, alg)
			b.SetBytes(1400)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, HeaderLen+1400+TagLen)
				for pb.Next() {
					if _, err := s.Seal(buf, 1400); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkReplayWindow(b *testing.B) {
	b.Run("in-order", func(b *testing.B) {
		var f replayFilter
		b.ReportAllocs()
		c := uint64(1 << 30)
		for b.Loop() {
			c++
			if !f.accept(c) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("reordered", func(b *testing.B) {
		var f replayFilter
		b.ReportAllocs()
		c := uint64(1 << 30)
		for b.Loop() {
			c += 64
			for i := uint64(0); i < 64; i += 8 { // 8 packets, out of order
				f.accept(c - i)
			}
		}
	})
	b.Run("Accept", func(b *testing.B) {
		_, r := pair(b, AES128)
		k := r.slots[0].Load()
		b.ReportAllocs()
		c := uint64(1 << 30)
		for b.Loop() {
			c++
			if r.Accept(Ticket{k: k, ctr: c}) != nil {
				b.Fatal("rejected")
			}
		}
	})
}
