package ring

import (
	"fmt"
	"sync"
	"testing"
)

// batch stands in for pipeline.Batch: what moves between stages is a pointer.
type batch struct{ n int }

const benchCap = 256

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkSPSC hands *batch pointers from one goroutine to another.
func BenchmarkSPSC(b *testing.B) {
	bt := &batch{}
	b.Run("ring", func(b *testing.B) {
		r := NewSPSC[*batch](benchCap)
		done := make(chan struct{})
		go func() {
			for i := 0; i < b.N; i++ {
				_ = r.Push(bt)
			}
			close(done)
		}()
		for i := 0; i < b.N; i++ {
			r.Pop()
		}
		<-done
		reportRate(b)
	})
	b.Run("chan", func(b *testing.B) {
		c := make(chan *batch, benchCap)
		done := make(chan struct{})
		go func() {
			for i := 0; i < b.N; i++ {
				c <- bt
			}
			close(done)
		}()
		for i := 0; i < b.N; i++ {
			<-c
		}
		<-done
		reportRate(b)
	})
}

// BenchmarkMPMC hands *batch pointers from one producer to N consumers (the
// reader -> crypto workers shape).
func BenchmarkMPMC(b *testing.B) {
	bt := &batch{}
	for _, consumers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("ring/consumers=%d", consumers), func(b *testing.B) {
			r := NewMPMC[*batch](benchCap)
			var wg sync.WaitGroup
			for c := 0; c < consumers; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						if _, ok := r.Pop(); !ok {
							return
						}
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				_ = r.Push(bt)
			}
			r.Close()
			wg.Wait()
			reportRate(b)
		})
		b.Run(fmt.Sprintf("chan/consumers=%d", consumers), func(b *testing.B) {
			c := make(chan *batch, benchCap)
			var wg sync.WaitGroup
			for k := 0; k < consumers; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range c {
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				c <- bt
			}
			close(c)
			wg.Wait()
			reportRate(b)
		})
	}
}

// BenchmarkPingPong measures wake latency: every item parks the other side
// (capacity-2 ring, one item in flight at a time, echoed back).
func BenchmarkPingPong(b *testing.B) {
	bt := &batch{}
	b.Run("ring", func(b *testing.B) {
		there, back := NewSPSC[*batch](2), NewSPSC[*batch](2)
		go func() {
			for {
				v, ok := there.Pop()
				if !ok {
					back.Close()
					return
				}
				_ = back.Push(v)
			}
		}()
		for i := 0; i < b.N; i++ {
			_ = there.Push(bt)
			back.Pop()
		}
		there.Close()
		back.Pop()
		reportRate(b)
	})
	b.Run("chan", func(b *testing.B) {
		there, back := make(chan *batch, 2), make(chan *batch, 2)
		go func() {
			for v := range there {
				back <- v
			}
			close(back)
		}()
		for i := 0; i < b.N; i++ {
			there <- bt
			<-back
		}
		close(there)
		<-back
		reportRate(b)
	})
}
