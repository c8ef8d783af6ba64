// Package beacon owns VpnCloud 2.3.0's beacons: short alphanumeric texts
// that carry a timestamp and a few of a node's addresses, obfuscated with
// the beacon password, so that nodes without static addresses can find each
// other through a shared file, a web page or any command that publishes or
// fetches text.
//
// Codec is the pure core: it encodes and decodes the format byte for byte
// as VpnCloud does (base62 text between a begin and an end marker, the
// payload masked with a SHA-512 keystream, a one-byte seed check, a 16-bit
// hour timestamp read with a time-to-live). Files and "|command" targets
// (run with sh -c, the beacon passed in the environment variables begin,
// data, end and beacon as VpnCloud does) are in io.go; Service (service.go)
// stores and loads beacons periodically on its own goroutines so the
// control plane never waits for a file or a command.
package beacon
