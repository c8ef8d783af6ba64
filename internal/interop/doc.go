// Package interop holds the tests that prove peercloud speaks VpnCloud
// 2.3.0's protocol: they replay the captures of real VpnCloud traffic in
// /work/shared/interop (see its README) through peercloud's own parsers
// (wire, aead, handshake) and check every packet. The package's only
// non-test code reads the captures' key logs and frames outer packets.
package interop
