// Package tunio owns the kernel side of the overlay: opening TUN and TAP
// devices (/dev/net/tun), reading and writing packets in batches through Go's
// poller, configuring the interface over netlink (MTU, address, link up,
// routes), computing the device MTU the way VpnCloud does, and running the
// ifup/ifdown hook commands.
//
// It knows nothing about crypto or peers. The data plane codes against the
// Device interface; tunio/tuntest holds an in-process fake with the same
// semantics.
//
// On TUN devices Open probes IFF_VNET_HDR with TUNSETOFFLOAD (CSUM, TSO4/6,
// USO4/6) and falls back to the plain device: Read then splits the kernel's
// GSO superpackets into MTU-sized segments (gso.go) and completes partial
// checksums, Write coalesces consecutive segments of a flow into
// superpackets (gro.go). IFF_MULTI_QUEUE gives one Device per queue
// (Tun.Queues). The Device interface is unchanged by all of this.
package tunio

import (
	"fmt"
	"strings"
)

// Device is an open TUN or TAP device.
//
// Concurrency: one goroutine may Read while another Writes; Read is not safe
// for concurrent use with itself, nor Write with itself. Name, Type and MTU
// are safe from any goroutine.
//
// Close: Close unblocks a blocked Read and Write; they and every later call
// return an error satisfying errors.Is(err, net.ErrClosed). Close is
// idempotent.
type Device interface {
	// Name is the kernel's interface name (a %d template resolved).
	Name() string
	// Type is TUN (IP packets) or TAP (Ethernet frames).
	Type() Type
	// MTU is the interface MTU as last read or set.
	MTU() int
	// Read reads up to len(bufs) packets, packet i into bufs[i][offset:] and
	// its length into sizes[i]; it returns the count, which is >= 1 unless
	// err != nil. It blocks until at least one packet is ready. offset leaves
	// headroom in front of each packet for protocol headers. A packet longer
	// than len(bufs[i])-offset is truncated.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write writes bufs[i][offset:] as one packet each and returns how many
	// were written. On error, bufs[n] is the packet that failed.
	Write(bufs [][]byte, offset int) (int, error)
	// Close closes the device; see the type's doc for its semantics.
	Close() error
}

// RunWriter is a Device whose writes coalesce packets into superpackets
// and that can hold back the last run of a write until the next one, so
// that a run spanning two of the caller's batches still becomes one
// superpacket (*Tun and its queues; see Tun.WriteRuns).
type RunWriter interface {
	WriteRuns(bufs [][]byte, offset, verified int, hold bool) (n, heldVerified int, err error)
}

// Type is the kind of virtual device.
type Type uint8

const (
	// TUN devices carry IP packets (layer 3).
	TUN Type = iota + 1
	// TAP devices carry Ethernet frames (layer 2).
	TAP
)

// String returns "tun" or "tap", the spelling of VpnCloud's config.
func (t Type) String() string {
	switch t {
	case TUN:
		return "tun"
	case TAP:
		return "tap"
	default:
		return fmt.Sprintf("Type(%d)", uint8(t))
	}
}

// ParseType parses "tun" or "tap" (any case), as VpnCloud's --type does.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(s) {
	case "tun":
		return TUN, nil
	case "tap":
		return TAP, nil
	default:
		return 0, fmt.Errorf("tunio.ParseType %q: %w", s, ErrUnknownType)
	}
}
