// Package ring owns the bounded rings that join the data-plane stages: a
// stage goroutine pushes values (in practice *pipeline.Batch pointers) and
// another stage pops them. It knows nothing about packets.
//
// Two shapes are offered, both generic over the element type and both
// implementing [Ring]:
//
//   - [SPSC]: one producer goroutine, one consumer goroutine (the in-order
//     reader -> writer ring). Lamport ring with cached indices; the only
//     shared writes in steady state are the head and tail indices, each on its
//     own cache line.
//   - [MPMC]: any number of producers and consumers (reader(s) -> N crypto
//     workers). Dmitry Vyukov's bounded queue with a sequence number per
//     slot; producers and consumers claim positions with one CAS each.
//
// Both rings are lock-free on the fast path and allocation-free in steady
// state. When a ring is empty, [Ring.Pop] spins briefly and then parks; when
// it is full, [Ring.Push] does the same, while [Ring.TryPush] fails at once
// with [ErrFull] so that the caller can drop and count. Parking costs nothing
// on the fast path: a producer or consumer only touches the wake primitive
// when the other side has registered as a waiter. SPSC parks on a channel of
// capacity 1 per side (there is at most one waiter per side); MPMC parks on a
// sync.Cond per side, because a token channel of capacity 1 can lose wakeups
// when several goroutines wait on the same side.
//
// Closing: [Ring.Close] is linearizable. It sets a closed bit in the
// producers' index, so every Push that returns nil happened before Close and
// its value is delivered; every Push after Close returns [ErrClosed]. Close
// wakes all parked goroutines; Pop keeps returning the values that are left
// and then returns ok=false.
//
// Measured with the package benchmarks (2-core machine, GOMAXPROCS=2,
// *Batch pointers, capacity 256, vs a buffered channel of the same
// capacity; figures vary by run, ratios are what counts):
//
//   - SPSC streaming handoff: ring ~15 ns/op (~65 M items/s), channel
//     ~55 ns/op (~18 M items/s): the ring wins by ~3.5x.
//   - Ping-pong (every item parks and wakes the other side): ring ~230 ns,
//     channel ~310 ns.
//   - MPMC, 1 producer -> 1/2/4 consumers: ring 25-40 ns/op, channel
//     33-43 ns/op. The ring wins with 1-2 consumers; with 4 consumers on 2
//     cores (more goroutines than cores) it is a draw within run-to-run
//     noise. The MPMC ring is kept for its non-blocking TryPush, linearizable
//     Close and lock-free fast path; a channel would do no worse there.
package ring
