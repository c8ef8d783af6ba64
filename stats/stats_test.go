package stats

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Unix(1_700_000_000, 0)

// fake is a Source whose figures the test sets.
type fake struct {
	peers []control.PeerStatus
	data  pipeline.CounterValues
	ctl   control.Counters
}

func (f *fake) source() Source {
	return Source{Peers: func() []control.PeerStatus { return f.peers }, Data: func() pipeline.CounterValues { return f.data }, Control: &f.ctl}
}

func traffic(in, inP, out, outP uint64) *pipeline.PeerStats {
	s := &pipeline.PeerStats{}
	s.InBytes.Store(in)
	s.InPackets.Store(inP)
	s.OutBytes.Store(out)
	s.OutPackets.Store(outP)
	return s
}

func twoPeers() (*fake, *pipeline.PeerStats, *pipeline.PeerStats) {
	a, b := traffic(1000, 10, 2000, 20), traffic(50, 1, 0, 0)
	f := &fake{peers: []control.PeerStatus{
		{Addr: "[::ffff:192.0.2.2]:3210", NodeID: "aa", Algorithm: "AES128", Claims: []string{"10.0.0.2/32"}, LastSeen: t0.Add(-10 * time.Second), Traffic: b},
		{Addr: "192.0.2.3:3210", NodeID: "bb", Algorithm: "CHACHA20", Claims: []string{"10.0.0.3/32", "10.3.0.0/16"}, LastSeen: t0, Traffic: a},
	}}
	f.data = pipeline.CounterValues{NetIn: 11, NetInBytes: 1050, NetOut: 20, NetOutBytes: 2000,
		DeviceIn: 20, DeviceInBytes: 1500, DeviceOut: 11, DeviceOutBytes: 800,
		DropNoRoute: 3, DropAuth: 2, DropReplay: 1, DropUnknownPeer: 4, Relayed: 6, DropRelay: 2}
	f.ctl.Invalid.Store(5)
	f.ctl.Connected.Store(2)
	return f, a, b
}

func TestCollectPeriodsAndTotals(t *testing.T) {
	f, a, b := twoPeers()
	c := NewCollector(f.source(), 300*time.Second, Interval)
	s := c.Collect(t0)
	if len(s.Peers) != 2 || s.Peers[0].Addr != "192.0.2.3:3210" || s.Peers[1].Addr != "192.0.2.2:3210" {
		t.Fatalf("peers (busiest first, unmapped): %+v", s.Peers)
	}
	if s.Peers[0].TTL != 300 || s.Peers[1].TTL != 290 {
		t.Errorf("ttl %d %d, want 300 290", s.Peers[0].TTL, s.Peers[1].TTL)
	}
	if s.Peers[0].Period != (Traffic{1000, 10, 2000, 20}) {
		t.Errorf("first period = %+v", s.Peers[0].Period)
	}
	if len(s.Claims) != 3 || s.Claims[0] != (Claim{"10.0.0.2/32", "192.0.2.2:3210", 290}) {
		t.Errorf("claims = %+v", s.Claims)
	}
	if s.Protocol != (Traffic{1050, 11, 2000, 20}) || s.Payload != (Traffic{800, 11, 1500, 20}) {
		t.Errorf("protocol %+v payload %+v", s.Protocol, s.Payload)
	}
	if s.Invalid != 4+2+1+5 || s.DroppedPayload != 3 {
		t.Errorf("invalid %d dropped %d", s.Invalid, s.DroppedPayload)
	}

	// Second period: deltas only; a replaced peer object starts afresh.
	a.InBytes.Add(100)
	a.InPackets.Add(1)
	f.peers[0].Traffic = traffic(7, 1, 0, 0) // b reconnected
	_ = b
	f.data.NetIn += 2
	f.data.DropNoRoute++
	s = c.Collect(t0.Add(Interval))
	if s.Peers[0].Period != (Traffic{100, 1, 0, 0}) || s.Peers[0].Total != (Traffic{1100, 11, 2000, 20}) {
		t.Errorf("second period of a: %+v total %+v", s.Peers[0].Period, s.Peers[0].Total)
	}
	if s.Peers[1].Period != (Traffic{7, 1, 0, 0}) {
		t.Errorf("reconnected peer period: %+v", s.Peers[1].Period)
	}
	if s.Protocol.InPackets != 2 || s.Protocol.OutPackets != 0 || s.DroppedPayload != 1 || s.Invalid != 0 {
		t.Errorf("second period totals: %+v dropped %d invalid %d", s.Protocol, s.DroppedPayload, s.Invalid)
	}
}

func TestFormat(t *testing.T) {
	f, _, _ := twoPeers()
	s := NewCollector(f.source(), 300*time.Second, Interval).Collect(t0)
	var b bytes.Buffer
	if err := Format(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"peers:\n  - \"192.0.2.3:3210\": { ttl_secs: 300, crypto: CHACHA20 }\n  - \"192.0.2.2:3210\": { ttl_secs: 290, crypto: AES128 }\n\n",
		"forwarding_table:\n  claims:\n    - \"10.0.0.2/32\": { peer: \"192.0.2.2:3210\", timeout: 290 }\n",
		"  cache:\n\npeer_traffic:\n  - peer: \"192.0.2.3:3210\"\n    in: { display: \"16 B/s\", bytes: 1000, packets: 10 }\n    out: { display: \"33 B/s\", bytes: 2000, packets: 20 }\n",
		"invalid_protocol_traffic: { packets: 12 }\ndropped_payload_traffic: { packets: 3 }\n",
		"  drops: { no_route: 3, malformed: 0, unknown_peer: 4, auth: 2, replay: 1,",
		"  relayed: 6\n",
		", unknown_type: 0, relay: 2, too_big: 0 }\n",
		"  control: { connected: 2, disconnected: 0, timed_out: 0, invalid: 5,",
		"    - \"192.0.2.3:3210\": { node_id: \"bb\", claims: [\"10.0.0.3/32\", \"10.3.0.0/16\"], in: { bytes: 1000, packets: 10 }, out: { bytes: 2000, packets: 20 } }\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stats file lacks %q:\n%s", want, out)
		}
	}
}

func TestFmtBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 511: "511 B", 512: "0.5 KiB", 1536: "1.5 KiB",
		600 << 10: "0.6 MiB", 3 << 30: "3.0 GiB", 700 << 30: "0.7 TiB"} {
		if got := fmtBytes(n); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stats.yaml")
	if err := os.WriteFile(path, []byte(strings.Repeat("old\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, _ := twoPeers()
	s := NewCollector(f.source(), 300*time.Second, Interval).Collect(t0)
	if err := WriteFile(path, s); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	var want bytes.Buffer
	Format(&want, s)
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("file content differs:\n%s", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), s); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestStatsdPayload(t *testing.T) {
	f, _, _ := twoPeers()
	s := NewCollector(f.source(), 300*time.Second, Interval).Collect(t0)
	want := strings.Join([]string{
		"pc.peer_count:2|g", "pc.table_cache_entries:0|g", "pc.table_claims:3|g",
		"pc.traffic.protocol.inbound.bytes:1050|c", "pc.traffic.protocol.inbound.packets:11|c",
		"pc.traffic.protocol.outbound.bytes:2000|c", "pc.traffic.protocol.outbound.packets:20|c",
		"pc.traffic.payload.inbound.bytes:800|c", "pc.traffic.payload.inbound.packets:11|c",
		"pc.traffic.payload.outbound.bytes:1500|c", "pc.traffic.payload.outbound.packets:20|c",
		"pc.invalid_protocol_traffic.packets:12|c", "pc.dropped_payload.packets:3|c",
	}, "\n")
	if got := string(StatsdPayload("pc", s)); got != want {
		t.Errorf("payload:\n%s\nwant:\n%s", got, want)
	}
}

func TestReporterFileAndStatsd(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	f, _, _ := twoPeers()
	path := filepath.Join(t.TempDir(), "stats")
	r, err := NewReporter(Config{Source: f.source(), File: path, Statsd: udp.LocalAddr().String(),
		Interval: 20 * time.Millisecond, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	udp.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := udp.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); !strings.HasPrefix(got, "vpncloud.peer_count:2|g\n") ||
		!strings.Contains(got, "vpncloud.traffic.protocol.inbound.packets:11|c") {
		t.Errorf("first statsd packet:\n%s", got)
	}
	// The next period has no new traffic: counters are deltas.
	n, _, err = udp.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); !strings.Contains(got, "vpncloud.traffic.protocol.inbound.packets:0|c") {
		t.Errorf("second statsd packet:\n%s", got)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(b), "peers:\n  - \"192.0.2.") {
		t.Errorf("stats file: %q, %v", b, err)
	}
}

func TestReporterErrors(t *testing.T) {
	if _, err := NewReporter(Config{}); !errors.Is(err, ErrNoSource) {
		t.Errorf("empty source: %v", err)
	}
	f, _, _ := twoPeers()
	r, _ := NewReporter(Config{Source: f.source(), Statsd: "no-port", File: filepath.Join(t.TempDir(), "a", "b")})
	err := r.Report(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no-port") || !strings.Contains(err.Error(), "writing") {
		t.Errorf("Report = %v, want both failures", err)
	}
}
