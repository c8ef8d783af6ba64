package daemon

import (
	"testing"

	"github.com/peercloud/peercloud/config"
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
