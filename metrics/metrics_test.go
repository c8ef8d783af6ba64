package metrics

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testSource() Source {
	tr := &pipeline.PeerStats{}
	tr.InBytes.Store(1234)
	tr.OutPackets.Store(7)
	ctl := &control.Counters{}
	ctl.Connected.Store(4)
	ctl.Disconnected.Store(3)
	ctl.TimedOut.Store(1)
	return Source{
		Source: stats.Source{
			Peers: func() []control.PeerStatus {
				return []control.PeerStatus{{Addr: "10.0.0.2:3210", Traffic: tr}, {Addr: "10.0.0.3:3210"}}
			},
			Data: func() pipeline.CounterValues {
				return pipeline.CounterValues{NetIn: 10, NetInBytes: 1000, DeviceOut: 9, DropReplay: 2, DropNoRoute: 5, Relayed: 7, DropRelay: 3}
			},
			Control: ctl,
		},
		Rings: func() [6]pipeline.RingOccupancy {
			var r [6]pipeline.RingOccupancy
			for i, name := range []string{"free", "work", "order"} {
				r[i] = pipeline.RingOccupancy{Direction: "out", Ring: name, Len: i, Cap: 16}
				r[3+i] = pipeline.RingOccupancy{Direction: "in", Ring: name, Len: 0, Cap: 16}
			}
			r[1].Len = 3
			return r
		},
		HooksDropped: func() uint64 { return 6 },
	}
}

// scrape serves src, fetches /metrics and parses the exposition text.
func scrape(t *testing.T, src Source) map[string]*dto.MetricFamily {
	t.Helper()
	s, err := Serve("127.0.0.1:0", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	resp, err := http.Get("http://" + s.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("invalid exposition text: %v\n%s", err, body)
	}
	return fams
}

// value finds the metric of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric family %s", name)
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no %s%v", name, want)
	return 0
}

func TestMetricsEndpoint(t *testing.T) {
	fams := scrape(t, testSource())
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"peercloud_traffic_bytes_total", []string{"layer", "net", "direction", "in"}, 1000},
		{"peercloud_traffic_packets_total", []string{"layer", "net", "direction", "in"}, 10},
		{"peercloud_traffic_packets_total", []string{"layer", "device", "direction", "out"}, 9},
		{"peercloud_drops_total", []string{"reason", "replay"}, 2},
		{"peercloud_drops_total", []string{"reason", "no_route"}, 5},
		{"peercloud_drops_total", []string{"reason", "auth"}, 0},
		{"peercloud_drops_total", []string{"reason", "relay"}, 3},
		{"peercloud_relayed_packets_total", nil, 7},
		{"peercloud_handshakes_total", nil, 4},
		{"peercloud_disconnects_total", []string{"reason", "timeout"}, 1},
		{"peercloud_disconnects_total", []string{"reason", "other"}, 2},
		{"peercloud_peers", nil, 2},
		{"peercloud_peer_bytes_total", []string{"peer", "10.0.0.2:3210", "direction", "in"}, 1234},
		{"peercloud_peer_packets_total", []string{"peer", "10.0.0.2:3210", "direction", "out"}, 7},
		{"peercloud_ring_occupancy", []string{"direction", "out", "ring", "work"}, 3},
		{"peercloud_ring_capacity", []string{"direction", "out", "ring", "work"}, 16},
		{"peercloud_hooks_dropped_total", nil, 6},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if fams["peercloud_drops_total"].GetType() != dto.MetricType_COUNTER || fams["peercloud_peers"].GetType() != dto.MetricType_GAUGE {
		t.Error("wrong metric types")
	}
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}
}

func TestOptionalSources(t *testing.T) {
	src := testSource()
	src.Rings, src.HooksDropped, src.Control = nil, nil, nil
	fams := scrape(t, src)
	for _, name := range []string{"peercloud_ring_occupancy", "peercloud_hooks_dropped_total", "peercloud_handshakes_total"} {
		if fams[name] != nil {
			t.Errorf("%s present without a source", name)
		}
	}
	if value(t, fams, "peercloud_peers") != 2 {
		t.Error("peers missing")
	}
}

func TestErrors(t *testing.T) {
	if _, err := NewCollector(Source{}); !errors.Is(err, ErrNoSource) {
		t.Errorf("empty source: %v", err)
	}
	if _, err := Serve("127.0.0.1:0", Source{}, nil); !errors.Is(err, ErrNoSource) {
		t.Errorf("Serve with empty source: %v", err)
	}
	if _, err := Serve("not-an-address", testSource(), nil); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
}
