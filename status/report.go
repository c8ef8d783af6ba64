package status

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/stats"
)

// Report is the daemon's status as the control socket answers it (and as
// `peercloud status --json` prints it).
type Report struct {
	Device    string    `json:"device"`
	Listen    string    `json:"listen"`
	Mode      string    `json:"mode"`
	PublicKey string    `json:"public_key,omitempty"`
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`
	Peers     []Peer    `json:"peers"`
	// Counters are the data plane's totals; Drops the same drops by reason.
	Counters pipeline.CounterValues `json:"counters"`
	Drops    map[string]uint64      `json:"drops"`
	Control  stats.ControlValues    `json:"control"`
}

// Peer is one connected peer.
type Peer struct {
	// Addr is the peer's address; for a relayed peer a placeholder in
	// 100::/64 that names the relayed path.
	Addr string `json:"addr"`
	// Via is the address of the peer relaying this peer's traffic, empty
	// (and left out of the JSON) for a direct peer.
	Via         string    `json:"via,omitempty"`
	NodeID      string    `json:"node_id"`
	Algorithm   string    `json:"algorithm"`
	Extended    bool      `json:"extended"` // peercloud's HKDF key schedule
	Initiator   bool      `json:"initiator"`
	Claims      []string  `json:"claims"`
	Connected   time.Time `json:"connected"`
	LastSeen    time.Time `json:"last_seen"`
	PeerTimeout int       `json:"peer_timeout"`
	KeyTime     time.Time `json:"key_time"`  // when the newest key was installed
	Rotations   uint64    `json:"rotations"` // rotated keys installed
	RxBytes     uint64    `json:"rx_bytes"`
	RxPackets   uint64    `json:"rx_packets"`
	TxBytes     uint64    `json:"tx_bytes"`
	TxPackets   uint64    `json:"tx_packets"`
}

// PeersFrom converts the control plane's peer status, sorted by address.
func PeersFrom(st []control.PeerStatus) []Peer {
	out := make([]Peer, 0, len(st))
	for _, p := range st {
		q := Peer{Addr: unmap(p.Addr), Via: unmap(p.Via), NodeID: p.NodeID, Algorithm: p.Algorithm, Extended: p.Extended,
			Initiator: p.Initiator, Claims: slices.Clone(p.Claims), Connected: p.Connected,
			LastSeen: p.LastSeen, PeerTimeout: p.PeerTimeout, KeyTime: p.KeyTime, Rotations: p.Rotations}
		if q.Claims == nil {
			q.Claims = []string{}
		}
		if t := p.Traffic; t != nil {
			q.RxBytes, q.RxPackets = t.InBytes.Load(), t.InPackets.Load()
			q.TxBytes, q.TxPackets = t.OutBytes.Load(), t.OutPackets.Load()
		}
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b Peer) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}

// unmap prints an IPv4-mapped IPv6 address as IPv4; anything else stays.
func unmap(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return addr
}

// DropMap is the drops by reason as a map, for the report.
func DropMap(v pipeline.CounterValues) map[string]uint64 {
	m := map[string]uint64{}
	for _, d := range stats.Drops(v) {
		m[d.Reason] = d.Count
	}
	return m
}

// FormatText writes r as `wg show` does: the interface first, then one
// block per peer. now is the reference for ages.
func FormatText(w io.Writer, r *Report, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "interface: %s\n", r.Device)
	if r.PublicKey != "" {
		fmt.Fprintf(&b, "  public key: %s\n", r.PublicKey)
	}
	fmt.Fprintf(&b, "  listening: %s\n  mode: %s\n  pid: %d\n", r.Listen, r.Mode, r.PID)
	if !r.Started.IsZero() {
		fmt.Fprintf(&b, "  up: %s\n", age(now.Sub(r.Started)))
	}
	fmt.Fprintf(&b, "  peers: %d\n", len(r.Peers))
	c := r.Counters
	fmt.Fprintf(&b, "  transfer: %s received, %s sent (%d/%d datagrams)\n",
		size(c.NetInBytes), size(c.NetOutBytes), c.NetIn, c.NetOut)
	fmt.Fprintf(&b, "  device: %s in, %s out (%d/%d packets)\n",
		size(c.DeviceInBytes), size(c.DeviceOutBytes), c.DeviceIn, c.DeviceOut)
	reasons := make([]string, 0, len(r.Drops))
	for k, v := range r.Drops {
		if v > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %d", k, v))
		}
	}
	slices.Sort(reasons)
	if len(reasons) == 0 {
		b.WriteString("  drops: none\n")
	} else {
		fmt.Fprintf(&b, "  drops: %s\n", strings.Join(reasons, ", "))
	}
	ct := r.Control
	fmt.Fprintf(&b, "  handshakes: %d, disconnects: %d (timeouts %d), invalid: %d\n",
		ct.Connected, ct.Disconnected, ct.TimedOut, ct.Invalid)
	for _, p := range r.Peers {
		fmt.Fprintf(&b, "\npeer: %s\n", p.Addr)
		if p.Via != "" {
			fmt.Fprintf(&b, "  via: %s (relayed)\n", p.Via)
		}
		fmt.Fprintf(&b, "  node id: %s\n", p.NodeID)
		sched := "VpnCloud"
		if p.Extended {
			sched = "peercloud HKDF"
		}
		fmt.Fprintf(&b, "  algorithm: %s (%s key schedule)\n", p.Algorithm, sched)
		claims := "(none)"
		if len(p.Claims) > 0 {
			claims = strings.Join(p.Claims, ", ")
		}
		fmt.Fprintf(&b, "  claims: %s\n", claims)
		fmt.Fprintf(&b, "  key age: %s (%d rotations)\n", age(now.Sub(p.KeyTime)), p.Rotations)
		fmt.Fprintf(&b, "  connected: %s ago\n  latest contact: %s ago\n", age(now.Sub(p.Connected)), age(now.Sub(p.LastSeen)))
		fmt.Fprintf(&b, "  transfer: %s received, %s sent (%d/%d packets)\n",
			size(p.RxBytes), size(p.TxBytes), p.RxPackets, p.TxPackets)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// age prints d as wg does: "1 hour, 2 minutes, 3 seconds".
func age(d time.Duration) string {
	s := int64(d / time.Second)
	if s <= 0 {
		return "0 seconds"
	}
	var parts []string
	for _, u := range []struct {
		n    int64
		name string
	}{{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}} {
		if v := s / u.n; v > 0 {
			s -= v * u.n
			name := u.name
			if v != 1 {
				name += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s", v, name))
		}
	}
	return strings.Join(parts, ", ")
}

// size prints n bytes as wg does: B, KiB, MiB, GiB, TiB with two decimals.
func size(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB"} {
		f /= 1024
		if f < 1024 {
			return fmt.Sprintf("%.2f %s", f, unit)
		}
	}
	return fmt.Sprintf("%.2f TiB", f/1024)
}
