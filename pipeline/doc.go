// Package pipeline is peercloud's data plane: the goroutine stages that move
// packets between the TUN/TAP device and the UDP socket, sealing and opening
// them with each peer's aead.Session on the way.
//
// Two directions, each three stages joined by ring.Ring (DESIGN.md §1):
//
//	outbound: tunReader (per queue) -> [work ring] -> sealers (N) -> [order ring] -> udpWriter
//	inbound:  udpReader (per shard) -> [work ring] -> openers (N) -> [order ring] -> tunWriter
//
// There is one reader per TUN queue and per UDP socket shard (NewMulti);
// with several readers in a direction its free and order rings are MPMC.
// The kernel keeps a flow on one queue or shard, and each reader puts its
// batches on the order ring in the order it read them, so per-flow order is
// kept. One writer per direction writes to the first queue or shard.
//
// Batches, not packets, move between stages. A reader fills a Batch from the
// free pool, classifies every packet against the current Snapshot, and puts
// the batch on both the work ring and the order ring; a crypto worker
// processes it and marks it done; the writer takes batches from the order
// ring in the order they were read, waits for each to be done, writes it and
// returns it to the pool. Order is therefore kept per reader (and so per
// flow) while crypto runs in parallel.
//
// The pipeline never mutates peer state. The control goroutine publishes an
// immutable Snapshot (routes and peers) with Publish; the data plane reads it
// with one atomic load per batch. Every packet that is not data for the
// device (handshake, node info, keepalive, key rotation, close) is copied and
// handed to the control plane through a bounded channel; when that channel is
// full the packet is dropped and counted. Malformed, unauthenticated,
// replayed and unroutable packets are dropped and counted, never fatal.
package pipeline
