package ring

import "sync/atomic"

// SPSC is a bounded single-producer/single-consumer ring: one goroutine at a
// time may call Push/TryPush and one goroutine at a time may call
// Pop/TryPop. See [Ring] for the contract.
type SPSC[T any] struct {
	_ pad
	// head is the consumer's index: the next slot to read. Written only by
	// the consumer.
	head atomic.Uint64
	// cachedTail is the consumer's private copy of tail.
	cachedTail uint64
	_          pad
	// tail is the producer's index: the next slot to write, plus closedBit
	// once closed. Written by the producer (CAS) and by Close (CAS).
	tail atomic.Uint64
	// cachedHead is the producer's private copy of head.
	cachedHead uint64
	_          pad

	mask uint64
	buf  []T
	done chan struct{} // closed by Close

	notEmpty tokenParker // the consumer parks here
	notFull  tokenParker // the producer parks here
}

// NewSPSC returns an SPSC ring holding at least capacity values (rounded up
// to a power of two, minimum 2).
func NewSPSC[T any](capacity int) *SPSC[T] {
	c := roundPow2(capacity)
	r := &SPSC[T]{mask: c - 1, buf: make([]T, c), done: make(chan struct{})}
	r.notEmpty.init()
	r.notFull.init()
	return r
}

// Cap returns the ring's capacity.
func (r *SPSC[T]) Cap() int { return len(r.buf) }

// Len returns the number of queued values.
func (r *SPSC[T]) Len() int {
	h := r.head.Load()
	t := r.tail.Load() &^ closedBit
	return int(t - h)
}

// Closed reports whether Close has been called.
func (r *SPSC[T]) Closed() bool { return r.tail.Load()&closedBit != 0 }

// TryPush appends v without blocking.
func (r *SPSC[T]) TryPush(v T) error {
	t := r.tail.Load()
	if t&closedBit != 0 {
		return ErrClosed
	}
	if t-r.cachedHead >= uint64(len(r.buf)) {
		r.cachedHead = r.head.Load()
		if t-r.cachedHead >= uint64(len(r.buf)) {
			return ErrFull
		}
	}
	slot := &r.buf[t&r.mask]
	*slot = v
	// Publish with a CAS rather than a store so that a concurrent Close
	// (which sets closedBit) either precedes this push (CAS fails, the
	// value is withdrawn) or follows it (the value is delivered).
	if !r.tail.CompareAndSwap(t, t+1) {
		var zero T
		*slot = zero
		return ErrClosed
	}
	r.notEmpty.wake()
	return nil
}

// Push appends v, parking while the ring is full.
func (r *SPSC[T]) Push(v T) error {
	for i := 0; ; i++ {
		err := r.TryPush(v)
		if err != ErrFull {
			return err
		}
		if spin(i) {
			continue
		}
		r.notFull.waiters.Add(1)
		if !r.canPush() {
			select {
			case <-r.notFull.ch:
			case <-r.done:
			}
		}
		r.notFull.waiters.Add(-1)
		i = 0
	}
}

// canPush reports whether a push could make progress (a free slot or closed).
func (r *SPSC[T]) canPush() bool {
	t := r.tail.Load()
	return t&closedBit != 0 || t-r.head.Load() < uint64(len(r.buf))
}

// TryPop removes the oldest value without blocking.
func (r *SPSC[T]) TryPop() (T, bool) {
	h := r.head.Load()
	if h == r.cachedTail {
		r.cachedTail = r.tail.Load() &^ closedBit
		if h == r.cachedTail {
			var zero T
			return zero, false
		}
	}
	slot := &r.buf[h&r.mask]
	v := *slot
	var zero T
	*slot = zero // drop the reference so the GC can reclaim it
	r.head.Store(h + 1)
	r.notFull.wake()
	return v, true
}

// Pop removes the oldest value, parking while the ring is empty. ok is false
// once the ring is closed and drained.
func (r *SPSC[T]) Pop() (T, bool) {
	for i := 0; ; i++ {
		if v, ok := r.TryPop(); ok {
			return v, true
		}
		if r.Closed() {
			// Everything pushed before Close is published (Close and
			// push both CAS tail), so one more try drains the rest.
			return r.TryPop()
		}
		if spin(i) {
			continue
		}
		r.notEmpty.waiters.Add(1)
		if !r.canPop() {
			select {
			case <-r.notEmpty.ch:
			case <-r.done:
			}
		}
		r.notEmpty.waiters.Add(-1)
		i = 0
	}
}

// canPop reports whether a pop could make progress (a value or closed).
func (r *SPSC[T]) canPop() bool {
	t := r.tail.Load()
	return t&closedBit != 0 || t != r.head.Load()
}

// Close closes the ring; see [Ring].
func (r *SPSC[T]) Close() {
	for {
		t := r.tail.Load()
		if t&closedBit != 0 {
			return
		}
		if r.tail.CompareAndSwap(t, t|closedBit) {
			close(r.done)
			return
		}
	}
}
