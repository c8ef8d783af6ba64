package ring

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
)

// Ring is a bounded FIFO of values of type T.
//
// Concurrency: SPSC allows one goroutine calling the push methods and one
// goroutine calling the pop methods at a time; MPMC allows any number of
// each. Close, Len, Cap and Closed may be called from any goroutine.
//
// Close semantics: after Close, Push and TryPush return ErrClosed, parked
// goroutines wake, and Pop/TryPop return the values still queued, then
// ok=false. Close is idempotent.
type Ring[T any] interface {
	// Push appends v, spinning briefly and then parking while the ring is
	// full. It returns ErrClosed if the ring is or becomes closed before v
	// is accepted.
	Push(v T) error
	// TryPush appends v without blocking: ErrFull if no slot is free,
	// ErrClosed if the ring is closed.
	TryPush(v T) error
	// Pop removes the oldest value, spinning briefly and then parking while
	// the ring is empty. ok is false only when the ring is closed and empty.
	Pop() (v T, ok bool)
	// TryPop removes the oldest value without blocking; ok is false if
	// nothing is ready.
	TryPop() (v T, ok bool)
	// Close closes the ring and wakes every parked goroutine.
	Close()
	// Closed reports whether Close has been called.
	Closed() bool
	// Len reports the number of queued values (a snapshot; racy by nature).
	Len() int
	// Cap reports the capacity, a power of two.
	Cap() int
}

// Compile-time interface checks.
var (
	_ Ring[*int] = (*SPSC[*int])(nil)
	_ Ring[*int] = (*MPMC[*int])(nil)
)

const (
	// closedBit is set in the producers' index by Close. Indices count
	// pushes and never reach 2^63.
	closedBit = uint64(1) << 63
	// cacheLine is the padding unit between fields written by different
	// goroutines (64 bytes on amd64/arm64; 128 covers adjacent-line
	// prefetching on Intel).
	cacheLine = 128
	// spinTight is the number of immediate retries before yielding.
	spinTight = 16
	// spinYield is the number of runtime.Gosched retries before parking.
	spinYield = 4
)

type pad [cacheLine]byte

// maxCapacity bounds a ring's capacity; larger requests are clamped.
const maxCapacity = 1 << 30

// roundPow2 returns the smallest power of two >= n, clamped to
// [2, maxCapacity].
func roundPow2(n int) uint64 {
	if n <= 2 {
		return 2
	}
	if n >= maxCapacity {
		return maxCapacity
	}
	return uint64(1) << bits.Len64(uint64(n-1))
}

// spin backs off for retry i of the spin phase; it reports false once the
// spin budget is spent and the caller should park.
func spin(i int) bool {
	switch {
	case i < spinTight:
		return true
	case i < spinTight+spinYield:
		runtime.Gosched()
		return true
	default:
		return false
	}
}

// tokenParker parks at most ONE goroutine at a time (one side of an SPSC
// ring). The waker sends a token only when a waiter has registered; a
// stale token left in the channel causes at most one spurious wakeup, after
// which the waiter re-checks its condition.
type tokenParker struct {
	waiters atomic.Int32
	ch      chan struct{} // capacity 1
	_       pad
}

func (p *tokenParker) init() { p.ch = make(chan struct{}, 1) }

// wake releases the parked goroutine, if any. Cheap when nobody waits: one
// atomic load.
func (p *tokenParker) wake() {
	if p.waiters.Load() == 0 {
		return
	}
	select {
	case p.ch <- struct{}{}:
	default:
	}
}

// condParker parks any number of goroutines on one side of an MPMC ring.
// The waiter registers, re-checks and waits under mu; the waker, after its
// progress is visible, signals under mu only if someone is registered.
type condParker struct {
	waiters atomic.Int32
	mu      sync.Mutex
	cond    sync.Cond
	_       pad
}

func (p *condParker) init() { p.cond.L = &p.mu }

// wake releases one parked goroutine, if any. One atomic load when nobody
// waits.
func (p *condParker) wake() {
	if p.waiters.Load() == 0 {
		return
	}
	p.mu.Lock()
	p.cond.Signal()
	p.mu.Unlock()
}

// wakeAll releases every parked goroutine.
func (p *condParker) wakeAll() {
	p.mu.Lock()
	p.cond.Broadcast()
	p.mu.Unlock()
}
