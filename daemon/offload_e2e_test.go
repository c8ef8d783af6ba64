package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOffloadVariants runs two nodes with the data plane's offloads on, off,
// and with several device queues and socket shards: each passes ping both
// ways and a short TCP stream both ways, and the log says what was active.
func TestOffloadVariants(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		// want are fragments of the "data plane offloads" log line.
		want []string
		// lane is a fragment of the line saying the small lane waits in
		// the kernel; "" when there must be none.
		lane string
	}{
		// The small-packet lane adds a queue and a shard.
		{"all on", nil, []string{`"tun": "vnethdr|tso|uso"`, `"tun-queues": 2`, `"udp-gso": true`, `"udp-gro": true`, `"udp-shards": 2`, `"small-lane": "steered"`}, `"linger": true`},
		{"all off", []string{"--no-tun-offload", "--no-udp-gso", "--no-udp-gro", "--no-small-lane"},
			[]string{`"tun": "none"`, `"tun-queues": 1`, `"udp-gso": false`, `"udp-gro": false`, `"udp-shards": 1`, `"small-lane": "off"`}, ""},
		{"lane without linger", []string{"--no-lane-linger"}, []string{`"small-lane": "steered"`}, `"linger": false`},
		{"queues and shards", []string{"--tun-queues", "2", "--udp-shards", "2"}, []string{`"tun-queues": 3`, `"udp-shards": 3`, `"small-lane": "steered"`}, `"linger": true`},
		{"queues and shards, no lane", []string{"--tun-queues", "2", "--udp-shards", "2", "--no-small-lane"}, []string{`"tun-queues": 2`, `"udp-shards": 2`, `"small-lane": "off"`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t)
			s.startPair(append([]string{"--password", "offloads"}, tc.flags...)...)
			s.mustPingBothWays(15 * time.Second)
			bps, rbps := s.iperf(2, false), s.iperf(2, true)
			t.Logf("%s: a->b %.0f Mbit/s, b->a %.0f Mbit/s", tc.name, bps/1e6, rbps/1e6)
			if bps <= 0 || rbps <= 0 {
				t.Fatal("no throughput")
			}
			line := offloadLogLine(t, filepath.Join(s.logDir, "a.log"))
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("offload log line lacks %q: %s", w, line)
				}
			}
			lane := logLine(t, filepath.Join(s.logDir, "a.log"), "small lane waits in the kernel")
			if tc.lane == "" && lane != "" || !strings.Contains(lane, tc.lane) {
				t.Errorf("small lane log line %q, want one with %q", lane, tc.lane)
			}
			if err := s.stop("a"); err != nil {
				t.Fatalf("node a did not exit cleanly: %v", err)
			}
		})
	}
}

// offloadLogLine returns the daemon's "data plane offloads" log line.
func offloadLogLine(t *testing.T, path string) string {
	t.Helper()
	l := logLine(t, path, "data plane offloads")
	if l == "" {
		t.Fatalf("no offload log line in %s", path)
	}
	return l
}

// logLine returns the first line of the log at path with marker, or "".
func logLine(t *testing.T, path, marker string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, marker) {
			return l
		}
	}
	return ""
}

// TestSmallLaneOnPersistentDevice: a persistent device made without
// IFF_MULTI_QUEUE takes only one queue; the node starts without the
// small-packet lane, says so, and forwards.
func TestSmallLaneOnPersistentDevice(t *testing.T) {
	s := newSite(t)
	if err := s.topo.Exec("a", "ip", "tuntap", "add", "dev", "pcpersist", "mode", "tun"); err != nil {
		t.Fatal(err)
	}
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "persist")
	s.start("a", "-d", "pcpersist", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210",
		"--no-port-forwarding", "--password", "persist")
	s.mustPingBothWays(15 * time.Second)
	line := offloadLogLine(t, filepath.Join(s.logDir, "a.log"))
	for _, w := range []string{`"tun-queues": 1`, `"udp-shards": 1`, `"small-lane": "off"`} {
		if !strings.Contains(line, w) {
			t.Errorf("offload log line lacks %q: %s", w, line)
		}
	}
	b, err := os.ReadFile(filepath.Join(s.logDir, "a.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "small-packet lane off: the device did not open with another queue") {
		t.Error("no warning that the lane is off")
	}
	if !strings.Contains(offloadLogLine(t, filepath.Join(s.logDir, "b.log")), `"small-lane": "steered"`) {
		t.Error("node b has no steered lane")
	}
	if err := s.stop("a"); err != nil {
		t.Fatalf("node a did not exit cleanly: %v", err)
	}
}
