package udpio

import (
	"testing"

	"github.com/peercloud/peercloud/internal/testenv"
	"github.com/vishvananda/netns"
)

// newNetns and inNetns are the shared namespace helpers (internal/testenv)
// under this package's test names.
func newNetns(t *testing.T) netns.NsHandle { return testenv.NewNetns(t, "pcudpio") }

func inNetns(t *testing.T, ns netns.NsHandle, f func()) { testenv.InNetns(t, ns, f) }
