// Package udpio owns the underlay socket: one dual-stack UDP socket per
// listen address (IPv4 peers appear as plain IPv4 addresses, never as
// v4-mapped IPv6), batched receive and send with recvmmsg/sendmmsg through
// Go's poller, the kernel's UDP offloads, SO_REUSEPORT shards, socket
// buffer sizing, and parsing of VpnCloud's listen address forms.
//
// Offloads stay behind the Conn interface, one datagram per Message:
// WriteBatch sends each run of consecutive equal-size messages to one
// address (the last may be shorter) as one UDP_SEGMENT (GSO) message, and
// ReadBatch splits datagrams the kernel coalesced with UDP_GRO back into
// messages. Both are probed at Listen, can be turned off (Options.NoGSO,
// NoGRO), and fall back cleanly; Socket.Offloads tells what is in use.
// ListenShards opens several sockets on one port for one reader each.
//
// It knows nothing about crypto or peers. The data plane codes against the
// Conn interface; udpio/udptest holds an in-process network with the same
// semantics.
package udpio

import "net/netip"

// DefaultPort is VpnCloud's port, used when a listen address names none.
const DefaultPort = 3210

// Message is one datagram in a batch. Buf is owned by the caller and reused
// across calls; after a read, Buf[:N] holds the datagram and Addr its
// sender; for a write, Buf[:N] is sent to Addr.
type Message struct {
	Buf  []byte
	N    int
	Addr netip.AddrPort
}

// Conn is a bound UDP socket.
//
// Concurrency: one or more goroutines may ReadBatch while others
// WriteBatch; concurrent calls of the same method are serialized.
//
// Close unblocks a blocked ReadBatch or WriteBatch; they and every later
// call return an error satisfying errors.Is(err, net.ErrClosed). Close is
// idempotent.
type Conn interface {
	// ReadBatch blocks until at least one datagram has arrived, then fills
	// msgs[i].N and msgs[i].Addr for as many as are queued (at most
	// len(msgs)) and returns that count. A datagram longer than Buf is
	// truncated to len(Buf).
	ReadBatch(msgs []Message) (int, error)
	// WriteBatch sends msgs[i].Buf[:N] to msgs[i].Addr and returns how many
	// were sent. On error, msgs[n] is the message that failed (with GSO,
	// the first of the run that failed; the rest of the run is unsent);
	// the caller may drop it and continue with msgs[n+1:].
	WriteBatch(msgs []Message) (int, error)
	// LocalAddr is the bound address (IPv4 addresses unmapped).
	LocalAddr() netip.AddrPort
	// Close closes the socket; see the type's doc for its semantics.
	Close() error
}
