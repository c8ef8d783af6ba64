package ring

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peercloud/peercloud/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type item struct {
	producer int
	seq      int
}

// shapes runs f against both ring shapes.
func shapes(t *testing.T, capacity int, f func(t *testing.T, r Ring[*item])) {
	t.Run("SPSC", func(t *testing.T) { f(t, NewSPSC[*item](capacity)) })
	t.Run("MPMC", func(t *testing.T) { f(t, NewMPMC[*item](capacity)) })
}

func TestCapacityRoundsUpToPowerOfTwo(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{-1, 2}, {0, 2}, {1, 2}, {2, 2}, {3, 4}, {8, 8}, {9, 16}, {1000, 1024}} {
		if got := NewSPSC[int](tc.in).Cap(); got != tc.want {
			t.Errorf("SPSC cap(%d) = %d, want %d", tc.in, got, tc.want)
		}
		if got := NewMPMC[int](tc.in).Cap(); got != tc.want {
			t.Errorf("MPMC cap(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCapacityClamped(t *testing.T) {
	if got := roundPow2(maxCapacity + 1); got != maxCapacity {
		t.Fatalf("roundPow2(max+1) = %d, want %d", got, maxCapacity)
	}
	if got := roundPow2(int(^uint(0) >> 1)); got != maxCapacity {
		t.Fatalf("roundPow2(MaxInt) = %d, want %d", got, maxCapacity)
	}
}

func TestFullAndEmptyEdges(t *testing.T) {
	shapes(t, 8, func(t *testing.T, r Ring[*item]) {
		if _, ok := r.TryPop(); ok {
			t.Fatal("TryPop on a new ring returned a value")
		}
		// Several laps so that index wraparound is exercised.
		for lap := 0; lap < 5; lap++ {
			items := make([]*item, r.Cap())
			for i := range items {
				items[i] = &item{seq: lap*100 + i}
				if err := r.TryPush(items[i]); err != nil {
					t.Fatalf("lap %d TryPush %d: %v", lap, i, err)
				}
				if r.Len() != i+1 {
					t.Fatalf("Len = %d after %d pushes", r.Len(), i+1)
				}
			}
			if err := r.TryPush(&item{}); !errors.Is(err, ErrFull) {
				t.Fatalf("TryPush on full ring = %v, want ErrFull", err)
			}
			for i := range items {
				v, ok := r.TryPop()
				if !ok || v != items[i] {
					t.Fatalf("lap %d TryPop %d = %v %v, want %v", lap, i, v, ok, items[i])
				}
			}
			if _, ok := r.TryPop(); ok {
				t.Fatal("TryPop on drained ring returned a value")
			}
			if r.Len() != 0 {
				t.Fatalf("Len = %d on empty ring", r.Len())
			}
		}
	})
}

func TestPopReleasesReference(t *testing.T) {
	s := NewSPSC[*item](2)
	m := NewMPMC[*item](2)
	_ = s.TryPush(&item{})
	_ = m.TryPush(&item{})
	s.TryPop()
	m.TryPop()
	for i := range s.buf {
		if s.buf[i] != nil {
			t.Errorf("SPSC slot %d still references a popped value", i)
		}
	}
	for i := range m.cells {
		if m.cells[i].val != nil {
			t.Errorf("MPMC slot %d still references a popped value", i)
		}
	}
}

func TestCloseSemantics(t *testing.T) {
	shapes(t, 4, func(t *testing.T, r Ring[*item]) {
		a, b := &item{seq: 1}, &item{seq: 2}
		_ = r.TryPush(a)
		_ = r.TryPush(b)
		if r.Closed() {
			t.Fatal("Closed before Close")
		}
		r.Close()
		r.Close() // idempotent
		if !r.Closed() {
			t.Fatal("not Closed after Close")
		}
		if err := r.Push(&item{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Push after Close = %v, want ErrClosed", err)
		}
		if err := r.TryPush(&item{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("TryPush after Close = %v, want ErrClosed", err)
		}
		if r.Len() != 2 {
			t.Fatalf("Len after Close = %d, want 2", r.Len())
		}
		for _, want := range []*item{a, b} {
			v, ok := r.Pop()
			if !ok || v != want {
				t.Fatalf("Pop after Close = %v %v, want %v", v, ok, want)
			}
		}
		for i := 0; i < 2; i++ {
			if v, ok := r.Pop(); ok || v != nil {
				t.Fatalf("Pop on closed drained ring = %v %v", v, ok)
			}
		}
	})
}

func TestCloseWakesParkedConsumer(t *testing.T) {
	shapes(t, 4, func(t *testing.T, r Ring[*item]) {
		done := make(chan bool)
		go func() {
			_, ok := r.Pop()
			done <- ok
		}()
		time.Sleep(20 * time.Millisecond) // let it spin out and park
		r.Close()
		select {
		case ok := <-done:
			if ok {
				t.Fatal("Pop on closed empty ring returned ok")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake the parked consumer")
		}
	})
}

func TestCloseWakesParkedProducer(t *testing.T) {
	shapes(t, 2, func(t *testing.T, r Ring[*item]) {
		for r.TryPush(&item{}) == nil {
		}
		done := make(chan error)
		go func() { done <- r.Push(&item{}) }()
		time.Sleep(20 * time.Millisecond)
		r.Close()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("parked Push after Close = %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake the parked producer")
		}
		if r.Len() != r.Cap() {
			t.Fatalf("Len = %d, want %d (the refused value must not be queued)", r.Len(), r.Cap())
		}
	})
}

func TestParkedConsumerWakesOnPush(t *testing.T) {
	shapes(t, 4, func(t *testing.T, r Ring[*item]) {
		got := make(chan *item)
		go func() {
			v, _ := r.Pop()
			got <- v
		}()
		time.Sleep(20 * time.Millisecond)
		want := &item{seq: 7}
		if err := r.Push(want); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-got:
			if v != want {
				t.Fatalf("got %v, want %v", v, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Push did not wake the parked consumer")
		}
		r.Close()
	})
}

// TestCloseRacingPushDeliversAccepted checks linearizable Close: every Push
// that returned nil is popped, nothing else is.
func TestCloseRacingPushDeliversAccepted(t *testing.T) {
	rounds := 200
	if testenv.Short() {
		rounds = 50
	}
	for round := 0; round < rounds; round++ {
		shapes(t, 16, func(t *testing.T, r Ring[*item]) {
			producers := 1
			if _, ok := r.(*MPMC[*item]); ok {
				producers = 3
			}
			var accepted atomic.Int64
			var wg sync.WaitGroup
			for p := 0; p < producers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						if err := r.Push(&item{}); err != nil {
							return
						}
						accepted.Add(1)
					}
				}()
			}
			popped := make(chan int64)
			go func() {
				var n int64
				for {
					if _, ok := r.Pop(); !ok {
						popped <- n
						return
					}
					n++
				}
			}()
			time.Sleep(time.Duration(round%5) * 100 * time.Microsecond)
			r.Close()
			wg.Wait()
			if n := <-popped; n != accepted.Load() {
				t.Fatalf("popped %d, accepted %d", n, accepted.Load())
			}
		})
	}
}

// runStress pushes items from producers and pops them with consumers,
// checking every item arrives exactly once and that each consumer sees each
// producer's items in push order.
func runStress(t *testing.T, r Ring[*item], producers, consumers, perProducer int, try bool) {
	t.Helper()
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				it := &item{producer: p, seq: i}
				if try {
					// A real caller drops and counts; this one retries,
					// yielding so a preempted peer can publish.
					for r.TryPush(it) != nil {
						runtime.Gosched()
					}
					continue
				}
				if err := r.Push(it); err != nil {
					t.Errorf("Push: %v", err)
					return
				}
			}
		}()
	}
	results := make([][]*item, consumers)
	var cwg sync.WaitGroup
	for c := 0; c < consumers; c++ {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for {
				v, ok := r.Pop()
				if !ok {
					return
				}
				results[c] = append(results[c], v)
			}
		}()
	}
	wg.Wait()
	r.Close()
	cwg.Wait()

	seen := make([][]bool, producers)
	for p := range seen {
		seen[p] = make([]bool, perProducer)
	}
	total := 0
	for c, res := range results {
		last := make([]int, producers)
		for p := range last {
			last[p] = -1
		}
		for _, it := range res {
			if seen[it.producer][it.seq] {
				t.Fatalf("item %d/%d delivered twice", it.producer, it.seq)
			}
			seen[it.producer][it.seq] = true
			if it.seq <= last[it.producer] {
				t.Fatalf("consumer %d: producer %d item %d after %d (FIFO broken)", c, it.producer, it.seq, last[it.producer])
			}
			last[it.producer] = it.seq
			total++
		}
	}
	if total != producers*perProducer {
		t.Fatalf("delivered %d items, want %d", total, producers*perProducer)
	}
}

func TestSPSCStress(t *testing.T) {
	n := 200000
	if testenv.Short() {
		n = 20000
	}
	for _, capacity := range []int{2, 64} {
		for _, try := range []bool{false, true} {
			t.Run(fmt.Sprintf("cap%d/try=%v", capacity, try), func(t *testing.T) {
				runStress(t, NewSPSC[*item](capacity), 1, 1, n, try)
			})
		}
	}
}

func TestMPMCStress(t *testing.T) {
	n := 50000
	if testenv.Short() {
		n = 5000
	}
	for _, tc := range []struct{ capacity, producers, consumers int }{
		{2, 4, 4}, {64, 1, 8}, {64, 8, 1}, {16, 8, 8}, {1024, 3, 5},
	} {
		for _, try := range []bool{false, true} {
			t.Run(fmt.Sprintf("cap%d/p%d/c%d/try=%v", tc.capacity, tc.producers, tc.consumers, try), func(t *testing.T) {
				runStress(t, NewMPMC[*item](tc.capacity), tc.producers, tc.consumers, n, try)
			})
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	if testenv.RaceEnabled {
		// The race detector's shadow bookkeeping is not part of the
		// production cost; the non-race run asserts this.
		t.Log("allocation counts under -race are not representative; asserting anyway with the race-free path")
	}
	shapes(t, 64, func(t *testing.T, r Ring[*item]) {
		it := &item{}
		allocs := testing.AllocsPerRun(1000, func() {
			if err := r.Push(it); err != nil {
				t.Fatal(err)
			}
			if err := r.TryPush(it); err != nil {
				t.Fatal(err)
			}
			if _, ok := r.Pop(); !ok {
				t.Fatal("Pop failed")
			}
			if _, ok := r.TryPop(); !ok {
				t.Fatal("TryPop failed")
			}
			if err := r.TryPush(it); err != nil {
				t.Fatal(err)
			}
			r.TryPop()
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per push/pop round, want 0", allocs)
		}
	})
}

// TestZeroAllocsHandoff checks that a cross-goroutine handoff through a
// tiny ring, which parks and wakes on both sides, does not allocate.
func TestZeroAllocsHandoff(t *testing.T) {
	shapes(t, 2, func(t *testing.T, r Ring[*item]) {
		back := NewSPSC[*item](2)
		go func() {
			for {
				v, ok := r.Pop()
				if !ok {
					back.Close()
					return
				}
				_ = back.Push(v)
			}
		}()
		it := &item{}
		// Warm up: the first park of a goroutine may allocate its sudog.
		for i := 0; i < 100; i++ {
			_ = r.Push(it)
			back.Pop()
		}
		allocs := testing.AllocsPerRun(2000, func() {
			_ = r.Push(it)
			back.Pop()
		})
		r.Close()
		if _, ok := back.Pop(); ok {
			t.Fatal("echo ring not drained")
		}
		if allocs != 0 {
			t.Fatalf("%v allocations per handoff round trip, want 0", allocs)
		}
	})
}
