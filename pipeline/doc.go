// Package pipeline is peercloud's data plane: the goroutine stages that move
// packets between the TUN/TAP device and the UDP socket, sealing and opening
// them with each peer's aead.Session on the way.
//
// Two directions, each a reader stage and a crypto stage joined by
// ring.Ring (DESIGN.md §1), the crypto stage also writing:
//
//	outbound: tunReader (per queue) -> [work ring] -> sealers (N) -> udp write (in read order)
//	inbound:  udpReader (per shard) -> [work ring] -> openers (N) -> tun write (in read order)
//
// There is one reader per TUN queue and per UDP socket shard (NewMulti);
// with several readers in a direction its free and order rings are MPMC.
// The kernel keeps a flow on one queue or shard, and each reader puts its
// batches on the order ring in the order it read them, so per-flow order is
// kept. Writes go to the first queue or shard.
//
// Batches, not packets, move between stages. A reader fills a Batch from the
// free pool, classifies every packet against the current Snapshot, and puts
// the batch on both the order ring and the work ring; a crypto worker
// processes it, marks it finished and then writes, under the direction's
// write lock, every finished batch at the head of the order ring, in the
// order they were read, returning each to the pool (drain). A worker that
// finds the lock taken leaves its batch to the holder, which looks at the
// head again after unlocking. There is no writer goroutine: a dedicated
// one cost a wake-up and a context switch per batch (docs/ARCHITECTURE.md
// has what dropping it measured). Order is kept per reader (and so per
// flow) while crypto runs in parallel.
//
// With Config.SmallLane the first device queue and socket shard form a
// second lane with all of the above of its own (rings, batches, crypto
// workers, write locks), sharing only the snapshot, the control channel,
// the counters and the learned addresses. The kernel steers small packets
// there (tunio's and udpio's SteerSmall), so they never wait behind the
// bulk lane's batches; each lane keeps the order it read in.
//
// The pipeline never mutates peer state. The control goroutine publishes an
// immutable Snapshot (routes and peers) with Publish; the data plane reads it
// with one atomic load per batch. Every packet that is not data for the
// device (handshake, node info, keepalive, key rotation, close) is copied and
// handed to the control plane through a bounded channel; when that channel is
// full the packet is dropped and counted. Malformed, unauthenticated,
// replayed and unroutable packets are dropped and counted, never fatal.
package pipeline
