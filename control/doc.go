// Package control is peercloud's control plane: one goroutine that owns all
// mutable state about peers. It drives handshakes and key rotation
// (package handshake), exchanges node info (peer lists and claims), keeps
// peers alive and times them out, reconnects to configured peers with
// VpnCloud's backoff and re-resolves their names, and publishes the
// immutable pipeline.Snapshot the data plane forwards with.
//
// Time enters only through the ticks passed to Run (one per second, as
// VpnCloud's housekeeping), so tests drive a Node with a fake clock.
// Nothing here runs per data packet: the data plane hands over only
// handshake, node-info, keepalive, rotation and close messages.
package control
