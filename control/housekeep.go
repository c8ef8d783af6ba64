package control

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/wire"
)

// reconnectEntry is a configured peer, retried for ever with VpnCloud's
// backoff: every `timeout` seconds, doubling after 10 tries, at most
// maxReconnectInterval.
type reconnectEntry struct {
	address     string
	resolved    []netip.AddrPort
	nextResolve int64
	tries       int
	timeout     int64
	next        int64
}

// tick is the once-a-second housekeeping (VpnCloud's housekeep).
func (n *Node) tick(ctx context.Context, t time.Time) {
	first := n.now == 0
	n.now = t.Unix()
	if first {
		n.nextPeers = n.now
		n.resetOwnAddrs()
	}
	// Peers that timed out.
	for _, p := range n.peers {
		if p.timeout < n.now {
			n.removePeer(p, "timeout")
			n.Counters.TimedOut.Add(1)
			n.connectTo(p.addr)
		}
	}
	n.handshakeTicks()
	if n.nextPeers <= n.now {
		n.broadcastNodeInfo()
		minTimeout := DefaultPeerTimeout
		if len(n.peers) > 0 {
			minTimeout = 1 << 30
			for _, p := range n.peers {
				minTimeout = min(minTimeout, p.peerTimeout)
			}
		}
		n.nextPeers = n.now + int64(min(n.cfg.Keepalive, max(minTimeout/2-60, 1)))
		n.nextNATKeepalive = n.now + natKeepalive
	}
	if n.nextNATKeepalive <= n.now {
		n.sendKeepalives()
		n.nextNATKeepalive = n.now + natKeepalive
	}
	n.reconnectToPeers(ctx)
	n.relayTick()
	if n.nextOwnAddrs <= n.now {
		n.resetOwnAddrs()
	}
}

// handshakeTicks lets every handshake and session advance by a second:
// repeats of lost init messages, key rotation, give-up.
func (n *Node) handshakeTicks() {
	for addr, hs := range n.pending {
		out, err := hs.Tick()
		for _, pkt := range out {
			n.send(addr, pkt)
		}
		if err != nil {
			delete(n.pending, addr)
			if n.probes[addr] {
				// A direct probe of a relayed peer: expected to fail
				// while the direct path is closed (relay.go).
				delete(n.probes, addr)
				n.log.Debug("direct probe of a relayed peer gave up", zap.Stringer("peer", addr))
				continue
			}
			n.log.Info("handshake gave up", zap.Stringer("peer", addr), zap.Error(err))
			n.emit(Event{Kind: EventPeerDisconnected, Peer: addr, Reason: "handshake timeout"})
		}
	}
	for _, p := range n.peers {
		out, err := p.hs.Tick()
		n.noteRotations(p)
		for _, pkt := range out {
			n.send(p.addr, pkt)
		}
		if err != nil {
			n.log.Info("session failed", zap.Stringer("peer", p.addr), zap.Error(err))
			n.removePeer(p, "session failed")
			n.connectTo(p.addr)
		}
	}
}

// sendKeepalives sends every peer a keepalive (type 2, which VpnCloud
// also accepts): Linux forgets a UDP mapping it has not seen answered for
// 30 s, far shorter than the node-info interval (90 s by default), and a
// node behind NAT would otherwise lose its mapping — and its peers — while
// idle.
func (n *Node) sendKeepalives() {
	for _, p := range n.peers {
		n.sendMessage(p, wire.TypeKeepalive, nil)
	}
}

func (n *Node) broadcastNodeInfo() {
	if len(n.peers) == 0 {
		return
	}
	body := n.nodeInfoPayload()
	for _, p := range n.peers {
		n.sendMessage(p, wire.TypeNodeInfo, body)
	}
}

// reconnectToPeers is VpnCloud's reconnect_to_peers: connect to configured
// peers that are not connected, re-resolve names every resolveInterval,
// back off.
func (n *Node) reconnectToPeers(ctx context.Context) {
	for _, e := range n.reconnect {
		if e.nextResolve <= n.now {
			n.resolve(ctx, e)
			e.nextResolve = n.now + resolveInterval
		}
		connected := false
		for _, a := range e.resolved {
			if n.peers[a] != nil {
				connected = true
				break
			}
		}
		if connected {
			e.tries, e.timeout, e.next = 0, 1, n.now+1
			continue
		}
		if e.next > n.now {
			continue
		}
		n.connectAny(e.resolved)
		e.tries++
		if e.tries > 10 {
			e.tries = 0
			e.timeout *= 2
		}
		e.timeout = min(e.timeout, maxReconnectInterval)
		e.next = n.now + e.timeout
	}
}

// resolve resolves a configured peer address; a failure keeps the old
// addresses and is logged.
func (n *Node) resolve(ctx context.Context, e *reconnectEntry) {
	addrs, err := resolveAddr(ctx, n.cfg.Resolve, e.address)
	if err != nil {
		n.log.Warn("cannot resolve peer address", zap.String("peer", e.address), zap.Error(err))
		return
	}
	e.resolved = addrs
}

// resolveAddr parses "host:port" (a missing port means DefaultPort) and
// resolves the host unless it is an IP address.
func resolveAddr(ctx context.Context, resolve Resolver, address string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		host, portStr = address, strconv.Itoa(DefaultPort)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, &net.ParseError{Type: "port", Text: portStr}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), uint16(port))}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ips, err := resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	return out, nil
}

// resetOwnAddrs is VpnCloud's reset_own_addresses: the advertised
// addresses and the socket's own address (learned addresses are dropped and
// relearned from peer lists).
func (n *Node) resetOwnAddrs() {
	n.ownAddrs = n.ownAddrs[:0]
	for _, a := range n.cfg.Advertise {
		n.addOwnAddr(unmap(a))
	}
	if la := unmap(n.cfg.ListenAddr); la.IsValid() && !la.Addr().IsUnspecified() {
		n.addOwnAddr(la)
	}
	for _, a := range n.extAddrs {
		n.addOwnAddr(a)
	}
	n.nextOwnAddrs = n.now + ownAddrResetInterval
}

var _ = slices.Contains[[]int]
