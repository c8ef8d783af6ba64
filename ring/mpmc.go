package ring

import (
	"runtime"
	"sync/atomic"
)

// cell is one slot of an MPMC ring. seq tells whose turn the slot is:
// seq == pos means free for the producer claiming pos; seq == pos+1 means
// filled for the consumer claiming pos.
type cell[T any] struct {
	seq atomic.Uint64
	val T
}

// MPMC is a bounded multi-producer/multi-consumer ring (Vyukov's bounded
// queue). Any number of goroutines may push and pop concurrently. FIFO holds
// in the order positions are claimed: values from one producer are popped in
// the order that producer pushed them. See [Ring] for the contract.
type MPMC[T any] struct {
	_ pad
	// enq is the next position producers claim, plus closedBit once closed.
	enq atomic.Uint64
	_   pad
	// deq is the next position consumers claim.
	deq atomic.Uint64
	_   pad

	mask  uint64
	cells []cell[T]

	notEmpty condParker // consumers park here
	notFull  condParker // producers park here
}

// NewMPMC returns an MPMC ring holding at least capacity values (rounded up
// to a power of two, minimum 2).
func NewMPMC[T any](capacity int) *MPMC[T] {
	c := roundPow2(capacity)
	r := &MPMC[T]{mask: c - 1, cells: make([]cell[T], c)}
	for i := range r.cells {
		r.cells[i].seq.Store(uint64(i))
	}
	r.notEmpty.init()
	r.notFull.init()
	return r
}

// Cap returns the ring's capacity.
func (r *MPMC[T]) Cap() int { return len(r.cells) }

// Len returns the number of claimed-for-push but not yet popped positions.
func (r *MPMC[T]) Len() int {
	d := r.deq.Load()
	e := r.enq.Load() &^ closedBit
	if e < d {
		return 0
	}
	return int(e - d)
}

// Closed reports whether Close has been called.
func (r *MPMC[T]) Closed() bool { return r.enq.Load()&closedBit != 0 }

// TryPush appends v without blocking.
func (r *MPMC[T]) TryPush(v T) error {
	pos := r.enq.Load()
	for {
		if pos&closedBit != 0 {
			return ErrClosed
		}
		c := &r.cells[pos&r.mask]
		seq := c.seq.Load()
		switch dif := int64(seq - pos); {
		case dif == 0:
			// The CAS fails if another producer claimed pos or Close set
			// closedBit; either way reload and retry.
			if r.enq.CompareAndSwap(pos, pos+1) {
				c.val = v
				c.seq.Store(pos + 1)
				r.notEmpty.wake()
				return nil
			}
		case dif < 0:
			// The slot still holds the value from one lap ago.
			return ErrFull
		}
		pos = r.enq.Load()
	}
}

// Push appends v, parking while the ring is full.
func (r *MPMC[T]) Push(v T) error {
	for i := 0; ; i++ {
		err := r.TryPush(v)
		if err != ErrFull {
			return err
		}
		if spin(i) {
			continue
		}
		p := &r.notFull
		p.mu.Lock()
		p.waiters.Add(1)
		if !r.canPush() {
			p.cond.Wait()
		}
		p.waiters.Add(-1)
		p.mu.Unlock()
		i = 0
	}
}

// canPush reports whether a push could make progress (a free slot or closed).
func (r *MPMC[T]) canPush() bool {
	e := r.enq.Load()
	return e&closedBit != 0 || e-r.deq.Load() < uint64(len(r.cells))
}

// TryPop removes the oldest value without blocking.
func (r *MPMC[T]) TryPop() (T, bool) {
	pos := r.deq.Load()
	for {
		c := &r.cells[pos&r.mask]
		seq := c.seq.Load()
		switch dif := int64(seq - (pos + 1)); {
		case dif == 0:
			if r.deq.CompareAndSwap(pos, pos+1) {
				v := c.val
				var zero T
				c.val = zero // drop the reference so the GC can reclaim it
				c.seq.Store(pos + r.mask + 1)
				r.notFull.wake()
				return v, true
			}
		case dif < 0:
			// Empty, or the producer that claimed pos has not published.
			var zero T
			return zero, false
		}
		pos = r.deq.Load()
	}
}

// Pop removes the oldest value, parking while the ring is empty. ok is false
// once the ring is closed and drained.
func (r *MPMC[T]) Pop() (T, bool) {
	for i := 0; ; i++ {
		if v, ok := r.TryPop(); ok {
			return v, true
		}
		if e := r.enq.Load(); e&closedBit != 0 {
			// Closed: no new claims. Positions claimed before Close are
			// being published; wait for them, then report drained.
			if r.deq.Load() >= e&^closedBit {
				var zero T
				return zero, false
			}
			runtime.Gosched()
			continue
		}
		if spin(i) {
			continue
		}
		p := &r.notEmpty
		p.mu.Lock()
		p.waiters.Add(1)
		if !r.canPop() {
			p.cond.Wait()
		}
		p.waiters.Add(-1)
		p.mu.Unlock()
		i = 0
	}
}

// canPop reports whether a pop could make progress: a claimed position not
// yet popped, or closed.
func (r *MPMC[T]) canPop() bool {
	e := r.enq.Load()
	return e&closedBit != 0 || e != r.deq.Load()
}

// Close closes the ring; see [Ring].
func (r *MPMC[T]) Close() {
	for {
		e := r.enq.Load()
		if e&closedBit != 0 {
			return
		}
		if r.enq.CompareAndSwap(e, e|closedBit) {
			r.notEmpty.wakeAll()
			r.notFull.wakeAll()
			return
		}
	}
}
