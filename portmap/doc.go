// Package portmap owns UPnP IGD port forwarding: it finds the internet
// gateway (WANIPConnection:2, WANIPConnection:1 or WANPPPConnection:1) with a
// bounded discovery, asks it to forward a UDP port to the node's socket in
// VpnCloud's order of attempts (the listen port, any port, the four ports
// above it, five random ports), renews the lease before it expires, reports
// the gateway's external address and port, and removes the mapping on Close.
//
// It is control-plane code: one goroutine per Mapper, never on the data
// path. Every failure is logged once and reported through the Mapper's
// state, never returned as a reason to stop the daemon.
package portmap
