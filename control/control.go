package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/wire"
)

// DefaultPeerTimeout is VpnCloud's default peer timeout in seconds.
const DefaultPeerTimeout = 300

// DefaultPort is VpnCloud's default UDP port, used when a configured peer
// address has none.
const DefaultPort = 3210

const (
	maxReconnectInterval = 3600 // seconds, VpnCloud's MAX_RECONNECT_INTERVAL
	resolveInterval      = 300  // seconds between re-resolutions of a peer name
	ownAddrResetInterval = 300  // seconds between resets of the learned own addresses
	unknownRetry         = 5    // seconds between handshakes offered to one unknown sender
	natKeepalive         = 25   // seconds between keepalives to every peer (NAT mappings)
	maxUnknownSeen       = 4096 // bound of the unknown-sender table
	untrustedLogInterval = 60   // seconds between log lines about untrusted handshakes from one address
)

// DataPlane is what the control plane needs from the data plane;
// *pipeline.Pipeline implements it.
type DataPlane interface {
	// Control delivers packets for the control plane; it is closed when
	// the data plane stops.
	Control() <-chan pipeline.ControlPacket
	// Publish installs a new immutable snapshot.
	Publish(*pipeline.Snapshot)
	// SendTo sends one datagram.
	SendTo(addr netip.AddrPort, pkt []byte) error
}

var _ DataPlane = (*pipeline.Pipeline)(nil)

// Resolver turns a host name into addresses. The zero Config uses
// net.DefaultResolver.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// Config configures a Node. Zero values pick VpnCloud's defaults.
type Config struct {
	// Handshake holds the identity, trusted keys, algorithms and node id;
	// its NodeID is the node's id in node-info messages. Required.
	Handshake *handshake.Config
	// Peers are the configured peer addresses ("host:port", "ip:port",
	// "[v6]:port"; a missing port means DefaultPort). They are retried for
	// ever.
	Peers []string
	// Claims are the address ranges this node claims (own claims plus
	// auto-claimed interface addresses).
	Claims []wire.Range
	// PeerTimeout is the time in seconds after which a silent peer is
	// dropped (default DefaultPeerTimeout).
	PeerTimeout int
	// Keepalive is the interval in seconds between node-info broadcasts
	// (default: PeerTimeout/2 - 60, at least 1, as VpnCloud).
	Keepalive int
	// TAP reports a TAP device: claims and lookups are MAC addresses.
	TAP bool
	// Learning and Flood are the forwarding mode (VpnCloud's learning and
	// broadcast flags): router = neither, switch = both, hub = Flood.
	Learning, Flood bool
	// RoutesChanged, when set, is called from the control goroutine with
	// the IP prefixes peers claim each time that set changes (the daemon
	// installs kernel routes for them). It must not block for long.
	RoutesChanged func(prefixes []netip.Prefix)
	// ListenAddr is the local socket address, published as an own address
	// when it is specific.
	ListenAddr netip.AddrPort
	// Advertise are extra addresses to publish as own addresses.
	Advertise []netip.AddrPort
	// Resolve resolves peer names (default net.DefaultResolver).
	Resolve Resolver
	// Relay lets this node relay between its peers and reach peers it
	// cannot reach directly through a peer that relays (relay.go). It is
	// announced in the handshake (the Handshake config's Relay is set from
	// it) and only used between peercloud nodes with the extended
	// handshake.
	Relay bool
	// Events, when set, receives peer events from the control goroutine
	// (hooks run from it). It must not block.
	Events func(Event)
	// Log receives the control plane's log lines (default: none).
	Log *zap.Logger
}

// Node is the control plane of one peercloud node. Create it with New and
// run it with Run in one goroutine; its methods other than Run and Stats
// are not safe for concurrent use.
type Node struct {
	cfg    Config
	hs     *handshake.Config
	nodeID wire.NodeID
	dp     DataPlane
	log    *zap.Logger

	trusted   []handshake.PublicKey // the trusted keys (own key when none configured)
	now       int64                 // seconds, from the last tick
	peers     map[netip.AddrPort]*peer
	pending   map[netip.AddrPort]*handshake.Peer
	reconnect []*reconnectEntry
	ownAddrs  []netip.AddrPort
	// extAddrs are own addresses learned outside the node (a port
	// mapping's external address); they survive resetOwnAddrs.
	extAddrs []netip.AddrPort
	// Relays (relay.go): placeholder addresses of relayed paths and the
	// nodes seen in peer lists.
	virt     map[pipeline.RelayKey]netip.AddrPort
	virtKey  map[netip.AddrPort]pipeline.RelayKey
	nextVirt uint64
	known    map[wire.NodeID]*sighting
	// probes are pending handshakes that probe the direct path of a
	// relayed peer: they come and go every directRetry seconds while the
	// path is closed, without events or info lines.
	probes map[netip.AddrPort]bool
	// unknownSeen is when we last offered a handshake to an address that
	// sent us session traffic without being a peer.
	unknownSeen map[netip.AddrPort]int64
	// untrustedSeen is when we last logged a handshake from an untrusted
	// key at an address.
	untrustedSeen map[netip.AddrPort]int64
	// requests run functions on the control goroutine (status queries,
	// reloads) for callers on other goroutines.
	requests chan func(*Node)

	nextPeers     int64
	nextOwnAddrs  int64
	snapshotDirty bool
	routes        []netip.Prefix // the prefixes last passed to RoutesChanged
	// nextNATKeepalive is when every peer gets a keepalive next.
	nextNATKeepalive int64
	stats            statsCell
	Counters         Counters
}

// peer is an established connection.
type peer struct {
	addr        netip.AddrPort
	hs          *handshake.Peer
	dp          *pipeline.Peer
	nodeID      wire.NodeID
	claims      []wire.Range
	addrs       []netip.AddrPort
	peerTimeout int
	timeout     int64 // forget the peer when now passes this
	lastSeen    int64
	connected   int64 // when the handshake completed
	keyTime     int64 // when the newest key was installed
	rotations   uint64
	via         netip.AddrPort // the relay of a relayed peer (zero: direct)
}

// noteRotations records key installs the handshake made since the last look.
func (n *Node) noteRotations(p *peer) {
	if r := p.hs.Rotations(); r != p.rotations {
		n.Counters.Rotations.Add(r - p.rotations)
		p.rotations, p.keyTime = r, n.now
	}
}

// New builds a Node. It does no I/O.
func New(cfg Config, dp DataPlane) (*Node, error) {
	if cfg.Handshake == nil {
		return nil, errors.New("control.New: no handshake configuration")
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = DefaultPeerTimeout
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = max(cfg.PeerTimeout/2-60, 1)
	}
	if cfg.Resolve == nil {
		cfg.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	hc := *cfg.Handshake // read-only once in use: copy, never modify
	hc.Relay = cfg.Relay
	n := &Node{
		cfg:     cfg,
		hs:      &hc,
		nodeID:  wire.NodeID(cfg.Handshake.NodeID),
		dp:      dp,
		log:     cfg.Log,
		peers:   make(map[netip.AddrPort]*peer),
		pending: make(map[netip.AddrPort]*handshake.Peer),

		unknownSeen:   make(map[netip.AddrPort]int64),
		untrustedSeen: make(map[netip.AddrPort]int64),
		virt:          make(map[pipeline.RelayKey]netip.AddrPort),
		virtKey:       make(map[netip.AddrPort]pipeline.RelayKey),
		known:         make(map[wire.NodeID]*sighting),
		probes:        make(map[netip.AddrPort]bool),
		requests:      make(chan func(*Node)),
	}
	n.trusted = cfg.Handshake.Trusted
	if len(n.trusted) == 0 && cfg.Handshake.Identity != nil {
		n.trusted = []handshake.PublicKey{cfg.Handshake.Identity.Public()}
	}
	for _, p := range cfg.Peers {
		n.reconnect = append(n.reconnect, &reconnectEntry{address: p, timeout: 1})
	}
	return n, nil
}

// Run is the control goroutine. It handles packets from the data plane and
// does its housekeeping on every tick (one per second; the tick's time is
// the node's clock) until ctx is done or the data plane's control channel
// closes. On the way out it tells every peer it is leaving (a close
// message), so call it before stopping the data plane.
func (n *Node) Run(ctx context.Context, ticks <-chan time.Time) error {
	ctrl := n.dp.Control()
	for {
		select {
		case req := <-n.requests:
			req(n)
		case <-ctx.Done():
			n.shutdown()
			return nil
		case pkt, ok := <-ctrl:
			if !ok {
				return nil
			}
			n.handlePacket(ctx, pkt)
		case t := <-ticks:
			n.tick(ctx, t)
		}
		if n.snapshotDirty {
			n.publish()
		}
	}
}

// Do runs f on the control goroutine and waits for it: the way other
// goroutines read or change the node's state. Changes f makes are published
// (snapshot, Peers) before Do returns. It fails when ctx ends first or the
// node is not running.
func (n *Node) Do(ctx context.Context, f func(*Node)) error {
	done := make(chan struct{})
	select {
	case n.requests <- func(n *Node) {
		f(n)
		// What f changed is in force (data plane snapshot, status)
		// when Do returns.
		if n.snapshotDirty {
			n.publish()
		}
		close(done)
	}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status returns the current peers; call it through Do from another
// goroutine, or from the control goroutine itself.
func (n *Node) Status() []PeerStatus {
	out := make([]PeerStatus, 0, len(n.peers))
	for _, p := range n.peers {
		out = append(out, n.peerStatus(p))
	}
	return out
}

// Start is the first tick: it sets the clock, works out the own addresses
// and connects to the configured peers at once.
func (n *Node) Start(ctx context.Context, now time.Time) {
	n.tick(ctx, now)
	if n.snapshotDirty {
		n.publish()
	}
}

func (n *Node) shutdown() {
	for _, p := range n.peers {
		n.sendMessage(p, wire.TypeClose, nil)
	}
	n.log.Info("told all peers we are leaving", zap.Int("peers", len(n.peers)))
}

// sendMessage seals a control message for p and sends it.
func (n *Node) sendMessage(p *peer, typ byte, body []byte) {
	sess := p.hs.Session()
	if sess == nil {
		return
	}
	buf := make([]byte, headerRoom+1+len(body)+tagRoom)
	buf[headerRoom] = typ
	copy(buf[headerRoom+1:], body)
	pkt, err := sess.Seal(buf, 1+len(body))
	if err != nil {
		n.log.Warn("sealing control message failed", zap.Stringer("peer", p.addr), zap.Error(err))
		return
	}
	n.send(p.addr, pkt)
}

func (n *Node) send(addr netip.AddrPort, pkt []byte) {
	if n.isRelayed(addr) {
		n.sendRelayed(addr, pkt)
		return
	}
	if err := n.dp.SendTo(addr, pkt); err != nil {
		n.Counters.SendFailed.Add(1)
		n.log.Debug("send failed", zap.Stringer("to", addr), zap.Error(err))
	}
}

func fmtNodeID(id wire.NodeID) string { return fmt.Sprintf("%x", id[:]) }
