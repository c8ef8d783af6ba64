package stats

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Format writes s in VpnCloud's stats file format (peers, forwarding
// table, traffic; per-interval figures), followed by a "peercloud"
// section with the running totals, the drops by reason and the control
// counters. VpnCloud's payload traffic per address pair is not tracked:
// payload_traffic lists nothing, and the invalid and dropped traffic
// lines carry packets only.
func Format(w io.Writer, s *Snapshot) error {
	var b bytes.Buffer
	secs := max(int64(s.Interval/time.Second), 1)
	rate := func(n uint64) string { return fmtBytes(n/uint64(secs)) + "/s" }

	b.WriteString("peers:\n")
	for _, p := range s.Peers {
		fmt.Fprintf(&b, "  - %q: { ttl_secs: %d, crypto: %s }\n", p.Addr, p.TTL, p.Algorithm)
	}
	b.WriteString("\nforwarding_table:\n  claims:\n")
	for _, c := range s.Claims {
		fmt.Fprintf(&b, "    - %q: { peer: %q, timeout: %d }\n", c.Claim, c.Peer, c.TTL)
	}
	b.WriteString("  cache:\n\npeer_traffic:\n")
	for _, p := range s.Peers {
		t := p.Period
		fmt.Fprintf(&b, "  - peer: %q\n    in: { display: %q, bytes: %d, packets: %d }\n    out: { display: %q, bytes: %d, packets: %d }\n",
			p.Addr, rate(t.InBytes), t.InBytes, t.InPackets, rate(t.OutBytes), t.OutBytes, t.OutPackets)
	}
	b.WriteString("\npayload_traffic:\n\n")
	fmt.Fprintf(&b, "invalid_protocol_traffic: { packets: %d }\n", s.Invalid)
	fmt.Fprintf(&b, "dropped_payload_traffic: { packets: %d }\n\n", s.DroppedPayload)

	d := s.Data
	b.WriteString("peercloud:\n")
	fmt.Fprintf(&b, "  time: %q\n  interval_secs: %d\n", s.Time.UTC().Format(time.RFC3339), secs)
	fmt.Fprintf(&b, "  protocol_traffic: { in: { bytes: %d, packets: %d }, out: { bytes: %d, packets: %d } }\n",
		d.NetInBytes, d.NetIn, d.NetOutBytes, d.NetOut)
	fmt.Fprintf(&b, "  payload_traffic: { in: { bytes: %d, packets: %d }, out: { bytes: %d, packets: %d } }\n",
		d.DeviceOutBytes, d.DeviceOut, d.DeviceInBytes, d.DeviceIn)
	fmt.Fprintf(&b, "  to_control: %d\n  flooded: %d\n  relayed: %d\n", d.ToControl, d.Flooded, d.Relayed)
	b.WriteString("  drops: {")
	for i, dr := range Drops(d) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s: %d", dr.Reason, dr.Count)
	}
	b.WriteString(" }\n")
	c := s.Control
	fmt.Fprintf(&b, "  control: { connected: %d, disconnected: %d, timed_out: %d, invalid: %d, stale: %d, send_failed: %d }\n",
		c.Connected, c.Disconnected, c.TimedOut, c.Invalid, c.Stale, c.SendFailed)
	b.WriteString("  peers:\n")
	for _, p := range s.Peers {
		t := p.Total
		fmt.Fprintf(&b, "    - %q: { node_id: %q, claims: [%s], in: { bytes: %d, packets: %d }, out: { bytes: %d, packets: %d } }\n",
			p.Addr, p.NodeID, quoteList(p.Claims), t.InBytes, t.InPackets, t.OutBytes, t.OutPackets)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// fmtBytes is VpnCloud's Bytes display: B, KiB, MiB, GiB, TiB with a
// switch to the next unit at 512.
func fmtBytes(n uint64) string {
	size := float64(n)
	if size < 512 {
		return fmt.Sprintf("%.0f B", size)
	}
	for _, unit := range []string{"KiB", "MiB", "GiB"} {
		size /= 1024
		if size < 512 {
			return fmt.Sprintf("%.1f %s", size, unit)
		}
	}
	return fmt.Sprintf("%.1f TiB", size/1024)
}

// WriteFile writes s to path atomically: into a temporary file in the same
// directory, synced, then renamed over path, so a reader sees either the
// old or the new statistics, never a half-written file.
func WriteFile(path string, s *Snapshot) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("stats: writing %s: %w", path, err)
	}
	tmp := f.Name()
	err = Format(f, s)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("stats: writing %s: %w", path, err)
	}
	return nil
}

// StatsdPayload builds the statsd datagram for s with VpnCloud's metric
// names under prefix: gauges peer_count, table_cache_entries (always 0:
// peercloud keeps no lookup cache) and table_claims; per-interval counters
// traffic.{protocol,payload}.{inbound,outbound}.{bytes,packets} and
// invalid_protocol_traffic.packets, dropped_payload.packets (their byte
// counts are not tracked and not sent).
func StatsdPayload(prefix string, s *Snapshot) []byte {
	var b bytes.Buffer
	line := func(key string, v uint64, typ string) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s.%s:%d|%s", prefix, key, v, typ)
	}
	line("peer_count", uint64(len(s.Peers)), "g")
	line("table_cache_entries", 0, "g")
	line("table_claims", uint64(len(s.Claims)), "g")
	for _, layer := range []struct {
		name string
		t    Traffic
	}{{"protocol", s.Protocol}, {"payload", s.Payload}} {
		line("traffic."+layer.name+".inbound.bytes", layer.t.InBytes, "c")
		line("traffic."+layer.name+".inbound.packets", layer.t.InPackets, "c")
		line("traffic."+layer.name+".outbound.bytes", layer.t.OutBytes, "c")
		line("traffic."+layer.name+".outbound.packets", layer.t.OutPackets, "c")
	}
	line("invalid_protocol_traffic.packets", s.Invalid, "c")
	line("dropped_payload.packets", s.DroppedPayload, "c")
	return b.Bytes()
}
