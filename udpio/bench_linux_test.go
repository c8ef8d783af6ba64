package udpio

import (
	"fmt"
	"testing"
)

// BenchmarkLoopback moves 1400-byte datagrams over IPv4 loopback: one
// goroutine writes batches with WriteBatch, the benchmark goroutine reads
// them with ReadBatch, with GSO/GRO on ("offloads") and off ("plain"). It
// reports received packets per second; loss (the receive buffer
// overflowing) shows as fewer received than sent.
func BenchmarkLoopback(b *testing.B) {
	for _, mode := range modes {
		for _, batch := range []int{1, 32, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode.name, batch), func(b *testing.B) {
				benchLoopback(b, mode.opts, batch)
			})
		}
	}
}

func benchLoopback(b *testing.B, opts Options, batch int) {
	rx := listen(b, "127.0.0.1:0", opts)
	tx := listen(b, "127.0.0.1:0", opts)
	out := makeMsgs(batch, 1400)
	for i := range out {
		out[i].N, out[i].Addr = 1400, rx.LocalAddr()
	}
	in := makeMsgs(batch, 2048)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := tx.WriteBatch(out); err != nil {
				return
			}
		}
	}()
	b.SetBytes(1400)
	b.ReportAllocs()
	b.ResetTimer()
	for got := 0; got < b.N; {
		n, err := rx.ReadBatch(in)
		if err != nil {
			b.Fatal(err)
		}
		got += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	close(stop)
	tx.Close()
	<-done
}

// BenchmarkWriteBatch measures the send side alone (datagrams to a socket
// that never reads; the kernel drops what overflows its buffer).
func BenchmarkWriteBatch(b *testing.B) {
	for _, mode := range modes {
		for _, batch := range []int{1, 32, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode.name, batch), func(b *testing.B) {
				rx := listen(b, "127.0.0.1:0", Options{RecvBuffer: -1, NoGSO: mode.opts.NoGSO, NoGRO: mode.opts.NoGRO})
				tx := listen(b, "127.0.0.1:0", mode.opts)
				out := makeMsgs(batch, 1400)
				for i := range out {
					out[i].N, out[i].Addr = 1400, rx.LocalAddr()
				}
				b.SetBytes(int64(1400 * batch))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, err := tx.WriteBatch(out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "pkts/s")
			})
		}
	}
}
