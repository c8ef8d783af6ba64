// Package metrics owns peercloud's Prometheus endpoint (--metrics-listen,
// off by default): a collector that reads the live counters at scrape time
// (traffic and packets on the socket and the device, drops by reason,
// handshakes and disconnects, peers and their traffic, hook queue drops,
// and the occupancy of every stage ring) and an HTTP server for /metrics
// on its own goroutine.
package metrics
