package tunio

// Header sizes that MTUFor subtracts.
const (
	IPv4HeaderLen     = 20 // outer IPv4 header without options
	IPv6HeaderLen     = 40 // outer IPv6 header without extension headers
	UDPHeaderLen      = 8  // outer UDP header
	CryptoExtraLen    = 8  // VpnCloud data header: key id (1) + nonce bytes 5..11 (7)
	CryptoTagLen      = 16 // AEAD tag
	MessageTypeLen    = 1  // VpnCloud message type byte, inside the ciphertext
	EthernetHeaderLen = 14 // inner Ethernet header of a TAP frame
)

// Overhead is the number of bytes the tunnel adds to one inner packet of
// device type t, not counting the outer IP and UDP headers:
// 8 (key id + nonce) + 16 (tag) + 1 (message type) = 25 for TUN, plus 14
// for the inner Ethernet header = 39 for TAP. This is VpnCloud 2.3.0's
// TunTapDevice::get_overhead without its outer-header part.
func Overhead(t Type) int {
	o := CryptoExtraLen + CryptoTagLen + MessageTypeLen
	if t == TAP {
		o += EthernetHeaderLen
	}
	return o
}

// MTUFor returns the device MTU that keeps every tunnel datagram within an
// underlay of underlayMTU bytes:
//
//	underlayMTU - (ipv6 ? 40 : 20) - 8 (UDP) - overhead
//
// VpnCloud 2.3.0 always assumes an IPv6 outer header (it cannot know that
// every peer is IPv4), so with overhead = Overhead(t) its MTU on a
// 1500-byte underlay is 1500-40-8-25 = 1427 for TUN and 1500-40-8-39 = 1413
// for TAP. MTUFor(underlay, true, Overhead(t)) reproduces that. A result
// below the IPv4 minimum of 68 (576 is unlikely on a real underlay) is
// clamped to 68 so the kernel accepts it.
func MTUFor(underlayMTU int, ipv6 bool, overhead int) int {
	ipHdr := IPv4HeaderLen
	if ipv6 {
		ipHdr = IPv6HeaderLen
	}
	mtu := underlayMTU - ipHdr - UDPHeaderLen - overhead
	if mtu < minMTU {
		return minMTU
	}
	return mtu
}

// DefaultUnderlayMTU is the underlay MTU assumed when no interface with a
// default route tells the real one (Ethernet's).
const DefaultUnderlayMTU = 1500

// minMTU is the smallest MTU Linux accepts for an IPv4 interface.
const minMTU = 68
