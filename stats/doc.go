// Package stats owns peercloud's periodic statistics: one Snapshot of the
// node (peers with their traffic and claims, protocol and payload totals,
// drops by reason, control-plane counters) built every interval
// (VpnCloud's STATS_INTERVAL, 60 s), written to the stats file in
// VpnCloud's YAML-like format plus a "peercloud" section of extra
// counters (atomically: a temporary file renamed over the old one), and
// sent to a statsd server with VpnCloud's metric names.
//
// As in VpnCloud, traffic figures in the VpnCloud sections and the statsd
// counters are per interval (the difference since the previous snapshot);
// the peercloud section carries the running totals.
package stats
