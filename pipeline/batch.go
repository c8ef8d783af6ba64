package pipeline

import (
	"net/netip"
	"sync/atomic"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/udpio"
	"github.com/peercloud/peercloud/wire"
)

// headroom is the space in front of an IP packet read from the device: the
// VpnCloud header (key id + nonce) and the message type byte, so that
// sealing happens in place, and in front of that the room a relay message
// needs (relayRoom), so that relayed packets are sealed in place too.
const headroom = relayRoom + aead.HeaderLen + 1

// netRoom is where a received datagram starts in its slot, and devRoom the
// headroom the device gets in front of each packet written to it:
// whatever the framing (plain: type byte first; sealed: the 8-byte header
// first), the packet after decryption has at least devRoom = 16 bytes in
// front of it, room for the device's virtio-net header (10 bytes).
const (
	netRoom = 16
	devRoom = 16
)

// verdict says what the writer does with a packet.
type verdict uint8

const (
	vDrop    verdict = iota // counted by the stage that decided it
	vSend                   // outbound: send out to the peer
	vDeliver                // inbound: write the payload to the device
	vControl                // inbound: hand the plaintext to the control plane
	vForward                // inbound: a relay message sealed for another peer: send it on
)

// slot is one packet of a Batch.
type slot struct {
	buf     []byte         // the whole preallocated buffer
	n       int            // bytes read into buf (after headroom for TUN reads)
	addr    netip.AddrPort // outbound: destination; inbound: source
	peer    *Peer
	out     []byte // sealed wire packet (outbound) or plaintext with type byte (inbound)
	verdict verdict
	init    bool // inbound: a handshake datagram, passed to the control plane as is
	// relayed: the handshake datagram came through the relay s.addr from
	// node.
	relayed bool
	node    wire.NodeID
}

// Batch is a group of packets moving through the stages together. Batches
// are preallocated and recycled through a free ring; nothing in them is
// allocated per packet.
type Batch struct {
	slots []slot
	n     int
	bytes int // bytes read into the n slots (for the inline choice)
	// views: inbound, msgs[i].Buf holds datagram i (a view into the
	// socket's buffers) rather than the slot; opened: the datagrams are
	// opened (with views, by the reader right after classifying).
	views, opened bool
	fin           atomic.Bool // set by the crypto worker when the batch is sealed or opened
	snap          *Snapshot   // the snapshot the reader classified the batch with

	// I/O scratch, sized once.
	bufs    [][]byte
	devBufs bool // bufs hold the slots' device read buffers (outbound batches)
	sizes   []int
	msgs    []udpio.Message
	fwd     []udpio.Message // inbound: relay messages to send on
	// inbound: each datagram's replay ticket and whether its window took it
	tickets  []aead.Ticket
	accepted []bool
}

func newBatch(size, bufSize int) *Batch {
	b := &Batch{
		slots: make([]slot, size),
		bufs:  make([][]byte, size),
		sizes: make([]int, size),
		msgs:  make([]udpio.Message, size),
		fwd:   make([]udpio.Message, 0, size),

		tickets:  make([]aead.Ticket, size),
		accepted: make([]bool, size),
	}
	slab := make([]byte, size*bufSize)
	for i := range b.slots {
		b.slots[i].buf = slab[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]
	}
	return b
}

func (b *Batch) reset() {
	for i := 0; i < b.n; i++ {
		s := &b.slots[i]
		s.n, s.peer, s.out, s.verdict, s.init, s.relayed = 0, nil, nil, vDrop, false, false
		s.addr = netip.AddrPort{}
	}
	b.n, b.bytes = 0, 0
	b.views, b.opened = false, false
	b.snap = nil
	b.fin.Store(false)
}
