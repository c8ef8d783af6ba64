package daemon

import (
	"runtime"
	"testing"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/tunio"
)

// TestUDPOptions: the configured socket buffer and offload switches reach
// the socket options; zero leaves udpio's default.
func TestUDPOptions(t *testing.T) {
	o := udpOptions(config.Peercloud{SocketBuffer: 212992, NoUDPGSO: true}, nil)
	if o.RecvBuffer != 212992 || o.SendBuffer != 212992 || !o.NoGSO || o.NoGRO {
		t.Errorf("options %+v", o)
	}
	if o := udpOptions(config.Peercloud{}, nil); o.RecvBuffer != 0 || o.SendBuffer != 0 {
		t.Errorf("default buffers %d/%d, want 0 (udpio's default)", o.RecvBuffer, o.SendBuffer)
	}
}

// TestPipelineConfig: the data plane gets the device's packet size, the
// relay MTU on TUN unless relays are off, --no-device-yield and
// --no-lane-linger.
func TestPipelineConfig(t *testing.T) {
	cfg := config.Default()
	p := pipelineConfig(cfg, tunio.TUN, 1400)
	if p.MaxPacket != 1418 || p.RelayMTU != 1400-pipeline.RelayOverhead || p.YieldBytes != 0 || p.SmallLaneLinger != 0 {
		t.Errorf("defaults: %+v, want MaxPacket 1418, RelayMTU %d, YieldBytes 0 (the pipeline's default)", p, 1400-pipeline.RelayOverhead)
	}
	cfg.Peercloud.NoDeviceYield, cfg.Peercloud.NoRelay, cfg.Peercloud.NoLaneLinger = true, true, true
	if p := pipelineConfig(cfg, tunio.TUN, 1400); p.YieldBytes >= 0 || p.RelayMTU != 0 || p.SmallLaneLinger >= 0 {
		t.Errorf("no-device-yield, no-relay, no-lane-linger: YieldBytes %d (want negative), RelayMTU %d (want 0), SmallLaneLinger %v (want negative)", p.YieldBytes, p.RelayMTU, p.SmallLaneLinger)
	}
	cfg.Peercloud.NoRelay = false
	if p := pipelineConfig(cfg, tunio.TAP, 1400); p.RelayMTU != 0 {
		t.Errorf("TAP: RelayMTU %d, want 0", p.RelayMTU)
	}
}

// TestLaneProcs: with the small-packet lane the runtime has as many
// processors as CPUs but at least two (one for the lingering lane), the
// same however often a daemon starts, and what the environment sets when
// it sets GOMAXPROCS.
func TestLaneProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(baseProcs)
	laneProcs(func(string) string { return "1" })
	if got := runtime.GOMAXPROCS(0); got != baseProcs {
		t.Errorf("GOMAXPROCS set in the environment: %d, want %d", got, baseProcs)
	}
	for range 2 {
		laneProcs(func(string) string { return "" })
		if got, want := runtime.GOMAXPROCS(0), max(baseProcs, 2); got != want {
			t.Errorf("GOMAXPROCS %d, want %d", got, want)
		}
	}
}
