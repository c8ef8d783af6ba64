package aead

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// naiveFilter is the replay rule spelled out: a counter is accepted once,
// unless it is more than ReplayWindow behind the newest accepted counter.
type naiveFilter struct {
	max  uint64
	seen map[uint64]bool
}

func (f *naiveFilter) accept(c uint64) bool {
	if f.seen[c] || (c < f.max && f.max-c > ReplayWindow) {
		return false
	}
	f.seen[c] = true
	if c > f.max {
		f.max = c
	}
	return true
}

func TestReplayWindowSize(t *testing.T) {
	if ReplayWindow < 2048 {
		t.Fatalf("window %d < 2048", ReplayWindow)
	}
}

func TestReplayFilterEdges(t *testing.T) {
	var f replayFilter
	const base = 1 << 40
	steps := []struct {
		ctr  uint64
		want bool
	}{
		{base, true},
		{base, false},                    // duplicate
		{base - 1, true},                 // reordered, inside
		{base - ReplayWindow, true},      // oldest still inside
		{base - ReplayWindow - 1, false}, // just outside
		{base - ReplayWindow, false},     // duplicate at the edge
		{base + 1, true},
		{base + 1 - ReplayWindow - 1, false}, // window moved on
		{base + 100000, true},                // a large jump
		{base + 1, false},                    // now far too old
		{base + 100000 - 5, true},            // reordering after a jump
		{base + 100000 - 5, false},
		{base + 100000 + ReplayWindow, true},
		{base + 100000, false}, // exactly ReplayWindow behind, already seen
		{base + 100001, true},  // exactly ReplayWindow-1 behind, unseen
		{1<<56 - 1, true},
		{1<<56 - 1 - ReplayWindow, true},
		{0, false},
	}
	for i, s := range steps {
		if got := f.check(s.ctr); got != s.want {
			t.Fatalf("step %d: check(%d) = %v, want %v", i, s.ctr, got, s.want)
		}
		if got := f.accept(s.ctr); got != s.want {
			t.Fatalf("step %d: accept(%d) = %v, want %v", i, s.ctr, got, s.want)
		}
	}
}

// A jump of exactly the ring size must not leave stale bits behind in the
// reused blocks.
func TestReplayFilterJumpClearsRing(t *testing.T) {
	for _, jump := range []uint64{1, 63, 64, 65, ReplayWindow, ReplayWindow + 64, replayBlocks * 64, replayBlocks*64 + 1, 1 << 30} {
		var f replayFilter
		const base = 1 << 20
		for c := uint64(base); c < base+200; c++ {
			f.accept(c)
		}
		top := uint64(base+199) + jump
		if !f.accept(top) {
			t.Fatalf("jump %d: top rejected", jump)
		}
		for c := top - ReplayWindow; c < top; c++ {
			want := c >= base+200 || c < base // unseen counters inside the window
			if got := f.accept(c); got != want {
				t.Fatalf("jump %d: accept(%d) = %v, want %v", jump, c, got, want)
			}
		}
	}
}

func TestReplayFilterMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		var f replayFilter
		n := naiveFilter{seen: map[uint64]bool{}}
		cur := rng.Uint64N(1 << 48)
		for i := 0; i < 20000; i++ {
			var c uint64
			switch r := rng.IntN(100); {
			case r < 60: // mostly in order
				cur++
				c = cur
			case r < 90: // reordered or replayed, around the window edge
				c = cur - rng.Uint64N(ReplayWindow+200)
			case r < 98: // jump
				cur += rng.Uint64N(3 * ReplayWindow)
				c = cur
			default: // far past
				c = rng.Uint64N(cur + 1)
			}
			if got, want := f.accept(c), n.accept(c); got != want {
				t.Fatalf("round %d step %d: accept(%d) = %v, naive %v", round, i, c, got, want)
			}
		}
	}
}

// Through a Session: packets sealed in order, delivered out of order.
func TestReplayThroughSession(t *testing.T) {
	for _, alg := range suites {
		t.Run(alg.String(), func(t *testing.T) {
			a, b := pair(t, alg)
			const n = 3000
			r, err := a.Reserve(n)
			if err != nil {
				t.Fatal(err)
			}
			pkts := make([][]byte, n)
			for i := range pkts {
				buf := make([]byte, HeaderLen+2, HeaderLen+2+TagLen)
				buf[HeaderLen+1] = byte(i)
				p, err := r.Seal(i, buf, 2)
				if err != nil {
					t.Fatal(err)
				}
				pkts[i] = p
			}
			open := func(i int) error {
				_, err := b.Open(append([]byte(nil), pkts[i]...))
				return err
			}
			// Newest first, then everything older in reverse: all inside the window.
			for i := n - 1; i >= 0; i-- {
				if err := open(i); err != nil {
					t.Fatalf("reordered packet %d: %v", i, err)
				}
			}
			for _, i := range []int{0, n / 2, n - 1} {
				if err := open(i); !errors.Is(err, ErrReplay) {
					t.Fatalf("duplicate %d: %v", i, err)
				}
			}
			// Jump far ahead; the old packets are now too old.
			a.slots[0].Load().ctr.Add(ReplayWindow * 3)
			if _, err := b.Open(seal(t, a, []byte{0})); err != nil {
				t.Fatal(err)
			}
			if err := open(n - 1); !errors.Is(err, ErrReplay) {
				t.Fatalf("too old after a jump: %v", err)
			}
		})
	}
}
