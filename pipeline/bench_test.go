package pipeline

import (
	"fmt"
	"testing"

	"github.com/peercloud/peercloud/aead"
)

// benchSizes are the IP packet sizes the seal/open benchmarks use: a
// full-MTU segment and a minimal one (the harness's 64-byte UDP test).
var benchSizes = []int{1400, 64}

// BenchmarkSealBatch measures the outbound per-batch work: classify a full
// batch of 64 packets (route lookup) and seal it in place. The packets are
// copied in afresh outside the timer each round.
func BenchmarkSealBatch(b *testing.B) {
	for _, alg := range []aead.Algorithm{aead.AES128, aead.AES256, aead.ChaCha20} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%dB", alg, size), func(b *testing.B) {
				h := newHalves(b, alg)
				out := newBatch(64, 2048)
				pkts := make([][]byte, 64)
				for i := range pkts {
					pkts[i] = ipPacket(tunA, tunB, size-28)
				}
				b.SetBytes(int64(len(pkts) * size))
				b.ReportAllocs()
				total := 0
				for b.Loop() {
					// Sealing is in place: refill (the device read)
					// outside the timer.
					b.StopTimer()
					n := fillDevice(out, pkts)
					b.StartTimer()
					h.tx.classifyOut(out, n, h.snapTx)
					h.tx.sealBatch(out)
					if out.slots[n-1].verdict != vSend {
						b.Fatal("packet not sealed")
					}
					out.reset()
					total += n
				}
				b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "packets/s")
			})
		}
	}
}

// BenchmarkOpenBatch measures the inbound per-batch work: classify a full
// batch of 64 datagrams (peer by address) and open it in place. The
// datagrams are sealed afresh outside the timer each round, as the replay
// window refuses a nonce twice.
func BenchmarkOpenBatch(b *testing.B) {
	for _, alg := range []aead.Algorithm{aead.AES128, aead.AES256, aead.ChaCha20} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%dB", alg, size), func(b *testing.B) {
				h := newHalves(b, alg)
				out, in := newBatch(64, 2048), newBatch(64, 2048)
				pkts := make([][]byte, 64)
				for i := range pkts {
					pkts[i] = ipPacket(tunA, tunB, size-28)
				}
				b.SetBytes(int64(len(pkts) * size))
				b.ReportAllocs()
				total := 0
				for b.Loop() {
					b.StopTimer()
					h.tx.classifyOut(out, fillDevice(out, pkts), h.snapTx)
					h.tx.sealBatch(out)
					n := carry(out, in, addrA)
					out.reset()
					b.StartTimer()
					h.rx.classifyIn(in, n, h.snapRx)
					h.rx.openBatch(in)
					for i := 0; i < n; i++ {
						if in.slots[i].verdict != vDeliver {
							b.Fatalf("packet %d not delivered", i)
						}
					}
					in.reset()
					total += n
				}
				b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "packets/s")
			})
		}
	}
}
