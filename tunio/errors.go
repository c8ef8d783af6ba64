package tunio

import "errors"

// Sentinel errors of this package; wrapped with the failing operation.
var (
	// ErrUnknownType is returned for a device type other than tun or tap.
	ErrUnknownType = errors.New("unknown device type, want tun or tap")
	// ErrBadName is returned for an empty interface name or one of 16 or more bytes.
	ErrBadName = errors.New("invalid interface name: must be 1 to 15 bytes")
	// ErrBadOffset is returned when an offset or buffer list cannot hold a packet.
	ErrBadOffset = errors.New("offset outside buffer or sizes shorter than bufs")
	// ErrNoDefaultRoute is returned when no underlay interface can be found.
	ErrNoDefaultRoute = errors.New("no default route: cannot pick the underlay interface")
	// ErrBadMTU is returned for an MTU out of range.
	ErrBadMTU = errors.New("mtu out of range")
	// ErrBadTxQueueLen is returned for a queue length out of range.
	ErrBadTxQueueLen = errors.New("transmit queue length out of range")
	// ErrEmptyHook is returned when RunHook is given an empty command.
	ErrEmptyHook = errors.New("empty hook command")
	// ErrBadVnetHdr is returned for a virtio_net_hdr or superpacket that
	// cannot be split or checksummed (bad GSO type, offsets outside the
	// packet, IP version mismatch, unsupported headers).
	ErrBadVnetHdr = errors.New("malformed virtio_net_hdr or offloaded packet")
	// ErrSegmentTooLarge is returned when a segment of a superpacket does not
	// fit the caller's buffer (the buffer is smaller than the device MTU).
	ErrSegmentTooLarge = errors.New("segment larger than the read buffer")
	// ErrBadQueues is returned for a negative or too large Options.MultiQueue.
	ErrBadQueues = errors.New("invalid number of queues")
)
