// Package udptest is an in-process UDP network for tests: Conns with
// addresses, datagrams delivered through channels, and an optional hook
// that decides per packet whether to deliver, drop, duplicate or hold it
// back (reorder), and endpoints behind a simulated NAT (endpoint-restricted
// filtering), so simulations can build bad networks deterministically.
package udptest

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/peercloud/peercloud/udpio"
)

// Action is a hook's verdict on one packet.
type Action int

const (
	// Deliver hands the packet to its destination.
	Deliver Action = iota
	// Drop loses the packet.
	Drop
	// Duplicate delivers the packet twice.
	Duplicate
	// Hold keeps the packet back and delivers it right after the next
	// packet to the same destination (or on Network.Flush), reordering it.
	Hold
)

// Packet is what a Hook sees. Data must not be retained or modified.
type Packet struct {
	From, To netip.AddrPort
	Data     []byte
}

// Hook decides what the network does with a packet. It is called from the
// sending goroutine, possibly concurrently; make it safe for that.
type Hook func(Packet) Action

// QueueLen is how many datagrams a Conn buffers before the network drops
// further ones, like a full socket receive buffer.
const QueueLen = 4096

// Network connects Conns by address. The zero value is not usable; use
// NewNetwork. All methods are safe for concurrent use.
type Network struct {
	hook     atomic.Pointer[Hook]
	dropped  atomic.Int64
	filtered atomic.Int64
	hasNAT   atomic.Bool // set once any SetNAT was called: sends then take the lock

	mu     sync.Mutex // guards the fields below
	conns  map[netip.AddrPort]*Conn
	held   map[netip.AddrPort][]datagram
	shards map[netip.AddrPort]*shardGroup // ListenShards groups, by address
	nat    map[netip.AddrPort]*natState   // endpoints behind a simulated NAT
	nextIP uint32
	nextPt uint16
}

// shardGroup is a set of Conns sharing one address (ListenShards).
type shardGroup struct {
	conns []*Conn
	pick  func(data []byte) int
}

type datagram struct {
	from netip.AddrPort
	data []byte
}

// NewNetwork returns an empty network with no hook (everything delivered).
func NewNetwork() *Network {
	return &Network{conns: make(map[netip.AddrPort]*Conn), held: make(map[netip.AddrPort][]datagram),
		shards: make(map[netip.AddrPort]*shardGroup), nextPt: 40000}
}

// SetHook installs h for all later packets; nil removes it.
func (n *Network) SetHook(h Hook) {
	if h == nil {
		n.hook.Store(nil)
		return
	}
	n.hook.Store(&h)
}

// Dropped counts packets lost: by the hook, to unknown addresses, to full
// receive queues, or filtered by a simulated NAT.
func (n *Network) Dropped() int64 { return n.dropped.Load() }

// NewConn returns a Conn at the next free address 10.0.x.y:3210.
func (n *Network) NewConn() *Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		n.nextIP++
		a := netip.AddrFrom4([4]byte{10, 0, byte(n.nextIP >> 8), byte(n.nextIP)})
		ap := netip.AddrPortFrom(a, udpio.DefaultPort)
		if _, used := n.conns[ap]; !used {
			return n.addLocked(ap)
		}
	}
}

// Listen returns a Conn bound to ap (IPv4-mapped addresses unmapped). A
// zero port picks a free one; an address in use is an error.
func (n *Network) Listen(ap netip.AddrPort) (*Conn, error) {
	if !ap.Addr().IsValid() {
		return nil, fmt.Errorf("udptest.Listen %v: %w", ap, ErrBadAddress)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	n.mu.Lock()
	defer n.mu.Unlock()
	if ap.Port() == 0 {
		for {
			n.nextPt++
			if n.nextPt == 0 {
				n.nextPt = 1024
			}
			cand := netip.AddrPortFrom(ap.Addr(), n.nextPt)
			if _, used := n.conns[cand]; !used {
				ap = cand
				break
			}
		}
	}
	if _, used := n.conns[ap]; used {
		return nil, fmt.Errorf("udptest.Listen %v: %w", ap, ErrAddrInUse)
	}
	return n.addLocked(ap), nil
}

// ListenShards returns k Conns bound to the same address ap, like
// SO_REUSEPORT sockets with a selection program: every datagram to ap goes
// to the Conn pick(data) returns (taken modulo k; nil pick: the first).
// Closing the first Conn unbinds the address.
func (n *Network) ListenShards(ap netip.AddrPort, k int, pick func(data []byte) int) ([]*Conn, error) {
	if k < 1 {
		return nil, fmt.Errorf("udptest.ListenShards %v: %d shards: %w", ap, k, ErrBadAddress)
	}
	first, err := n.Listen(ap)
	if err != nil {
		return nil, err
	}
	g := &shardGroup{conns: []*Conn{first}, pick: pick}
	for len(g.conns) < k {
		g.conns = append(g.conns, &Conn{net: n, local: first.local, in: make(chan datagram, QueueLen), done: make(chan struct{})})
	}
	n.mu.Lock()
	n.shards[first.local] = g
	n.mu.Unlock()
	return g.conns, nil
}

func (n *Network) addLocked(ap netip.AddrPort) *Conn {
	c := &Conn{net: n, local: ap, in: make(chan datagram, QueueLen), done: make(chan struct{})}
	n.conns[ap] = c
	return c
}

// Flush delivers every held packet now.
func (n *Network) Flush() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for to, held := range n.held {
		delete(n.held, to)
		for _, d := range held {
			n.enqueueLocked(to, d)
		}
	}
}

// send runs one packet through the hook and delivers it.
func (n *Network) send(from, to netip.AddrPort, data []byte) {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if n.hasNAT.Load() {
		n.mu.Lock()
		n.natOutLocked(from, to)
		n.mu.Unlock()
	}
	act := Deliver
	if h := n.hook.Load(); h != nil {
		act = (*h)(Packet{From: from, To: to, Data: data})
	}
	if act == Drop {
		n.dropped.Add(1)
		return
	}
	d := datagram{from: from, data: append([]byte(nil), data...)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if act == Hold {
		n.held[to] = append(n.held[to], d)
		return
	}
	n.enqueueLocked(to, d)
	if act == Duplicate {
		n.enqueueLocked(to, d)
	}
	if held := n.held[to]; len(held) > 0 {
		delete(n.held, to)
		for _, h := range held {
			n.enqueueLocked(to, h)
		}
	}
}

func (n *Network) enqueueLocked(to netip.AddrPort, d datagram) {
	c := n.conns[to]
	if c == nil {
		n.dropped.Add(1)
		return
	}
	if g := n.shards[to]; g != nil && g.pick != nil {
		k := g.pick(d.data) % len(g.conns)
		c = g.conns[max(k, 0)]
	}
	if !n.natAllowsLocked(d.from, to) {
		n.filtered.Add(1)
		n.dropped.Add(1)
		return
	}
	select {
	case c.in <- d:
	default:
		n.dropped.Add(1)
	}
}

func (n *Network) remove(c *Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conns[c.local] == c {
		delete(n.conns, c.local)
		delete(n.shards, c.local)
	}
}

// Conn is an endpoint of a Network; it implements udpio.Conn with the same
// concurrency and Close semantics as a real socket.
type Conn struct {
	net   *Network
	local netip.AddrPort
	in    chan datagram

	done      chan struct{}
	closeOnce sync.Once
}

var _ udpio.Conn = (*Conn)(nil)

// LocalAddr implements udpio.Conn.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// ReadBatch implements udpio.Conn: it blocks for the first datagram, then
// takes what else is queued, up to len(msgs).
func (c *Conn) ReadBatch(msgs []udpio.Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	select {
	case <-c.done:
		return 0, fmt.Errorf("udptest.ReadBatch %v: %w", c.local, net.ErrClosed)
	default:
	}
	select {
	case <-c.done:
		return 0, fmt.Errorf("udptest.ReadBatch %v: %w", c.local, net.ErrClosed)
	case d := <-c.in:
		fill(&msgs[0], d)
	}
	n := 1
	for n < len(msgs) {
		select {
		case d := <-c.in:
			fill(&msgs[n], d)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func fill(m *udpio.Message, d datagram) {
	m.N = copy(m.Buf, d.data)
	m.Addr = d.from
}

// WriteBatch implements udpio.Conn. Sending never blocks: a full receiver
// drops, as UDP does.
func (c *Conn) WriteBatch(msgs []udpio.Message) (int, error) {
	for i := range msgs {
		select {
		case <-c.done:
			return i, fmt.Errorf("udptest.WriteBatch %v: %w", c.local, net.ErrClosed)
		default:
		}
		m := &msgs[i]
		if m.N < 0 || m.N > len(m.Buf) {
			return i, fmt.Errorf("udptest.WriteBatch: %w", udpio.ErrBadMessage)
		}
		if a := m.Addr.Addr(); !a.IsValid() || a.IsUnspecified() || m.Addr.Port() == 0 {
			return i, fmt.Errorf("udptest.WriteBatch to %v: %w", m.Addr, udpio.ErrBadAddress)
		}
		c.net.send(c.local, m.Addr, m.Buf[:m.N])
	}
	return len(msgs), nil
}

// Close implements udpio.Conn; the address becomes free again.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.net.remove(c)
		close(c.done)
	})
	return nil
}
