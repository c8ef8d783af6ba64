package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/peercloud/peercloud/internal/testenv"
)

// BenchmarkPeercloudTunnel runs the harness in smoke mode (1 s tests) with
// peercloud aes128 and reports the tunnel's figures as benchmark metrics,
// so `go test -bench` shows them beside the micro-benchmarks. Root only.
func BenchmarkPeercloudTunnel(b *testing.B) {
	testenv.RequireRoot(b)
	bin := os.Getenv("PEERCLOUD_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "peercloud")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/peercloud/peercloud/cmd/peercloud").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	opts := SmokeOptions()
	opts.Prefix = fmt.Sprintf("pcbb%d", os.Getpid()%10000)
	r := NewRunner(opts, nil)
	var a2b, b2a, kpps, ping float64
	for i := 0; i < b.N; i++ {
		res := r.RunContender(context.Background(), PeercloudContender(bin, "aes128"))
		if res.Failed() || len(res.Errors) > 0 {
			b.Fatalf("run failed: %q", res.Errors)
		}
		a2b += tcpMbps(res.TCPAtoB)
		b2a += tcpMbps(res.TCPBtoA)
		kpps += udpKpps(res.UDP64)
		ping += pingAvg(res.PingIdle)
	}
	n := float64(b.N)
	b.ReportMetric(a2b/n, "Mbit/s-a-to-b")
	b.ReportMetric(b2a/n, "Mbit/s-b-to-a")
	b.ReportMetric(kpps/n, "kpps-udp64")
	b.ReportMetric(ping/n, "ms-ping")
}
