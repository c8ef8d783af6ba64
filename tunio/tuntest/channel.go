// Package tuntest holds in-process fakes of tunio.Device for tests, and
// builders for the IP, UDP and Ethernet packets tests push through them.
package tuntest

import (
	"fmt"
	"net"
	"sync"

	"github.com/peercloud/peercloud/tunio"
)

// ChannelTUN is a tunio.Device whose kernel side is two Go channels: send
// on Inbound what the "kernel" hands the daemon (Read returns it), receive
// from Outbound what the daemon wrote (each a fresh copy).
//
// Concurrency and Close semantics are those of tunio.Device: one Read and
// one Write may run at once; Close unblocks both and every later call
// returns an error satisfying errors.Is(err, net.ErrClosed). Close never
// closes Inbound or Outbound (the test owns them); a Write blocked on a full
// Outbound returns after Close with the packets already written counted.
type ChannelTUN struct {
	Inbound  chan []byte
	Outbound chan []byte

	name string
	typ  tunio.Type
	mtu  int

	done      chan struct{}
	closeOnce sync.Once
}

var _ tunio.Device = (*ChannelTUN)(nil)

// DefaultQueue is the capacity of Inbound and Outbound.
const DefaultQueue = 1024

// NewChannelTUN returns an open fake device with buffered channels of
// DefaultQueue packets.
func NewChannelTUN(name string, typ tunio.Type, mtu int) *ChannelTUN {
	return &ChannelTUN{
		Inbound:  make(chan []byte, DefaultQueue),
		Outbound: make(chan []byte, DefaultQueue),
		name:     name,
		typ:      typ,
		mtu:      mtu,
		done:     make(chan struct{}),
	}
}

// Name implements tunio.Device.
func (c *ChannelTUN) Name() string { return c.name }

// Type implements tunio.Device.
func (c *ChannelTUN) Type() tunio.Type { return c.typ }

// MTU implements tunio.Device.
func (c *ChannelTUN) MTU() int { return c.mtu }

// Read implements tunio.Device: it blocks for the first packet, then takes
// whatever else is already queued, up to len(bufs). Over-long packets are
// truncated, as the kernel truncates a read into a short buffer.
func (c *ChannelTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if len(sizes) < len(bufs) || offset < 0 {
		return 0, fmt.Errorf("tuntest.Read: %w", tunio.ErrBadOffset)
	}
	for _, b := range bufs {
		if offset > len(b) {
			return 0, fmt.Errorf("tuntest.Read: %w", tunio.ErrBadOffset)
		}
	}
	select {
	case <-c.done:
		return 0, fmt.Errorf("tuntest.Read: %w", net.ErrClosed)
	default:
	}
	select {
	case <-c.done:
		return 0, fmt.Errorf("tuntest.Read: %w", net.ErrClosed)
	case p := <-c.Inbound:
		sizes[0] = copy(bufs[0][offset:], p)
	}
	n := 1
	for n < len(bufs) {
		select {
		case p := <-c.Inbound:
			sizes[n] = copy(bufs[n][offset:], p)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// Write implements tunio.Device: each packet is copied to Outbound,
// blocking while Outbound is full.
func (c *ChannelTUN) Write(bufs [][]byte, offset int) (int, error) {
	if offset < 0 {
		return 0, fmt.Errorf("tuntest.Write: %w", tunio.ErrBadOffset)
	}
	for i, b := range bufs {
		select {
		case <-c.done:
			return i, fmt.Errorf("tuntest.Write: %w", net.ErrClosed)
		default:
		}
		if offset > len(b) {
			return i, fmt.Errorf("tuntest.Write: %w", tunio.ErrBadOffset)
		}
		p := append([]byte(nil), b[offset:]...)
		select {
		case <-c.done:
			return i, fmt.Errorf("tuntest.Write: %w", net.ErrClosed)
		case c.Outbound <- p:
		}
	}
	return len(bufs), nil
}

// Close implements tunio.Device.
func (c *ChannelTUN) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return nil
}
