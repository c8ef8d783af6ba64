package daemon_test

// Root tier: beacons. Node a publishes its address in a beacon; node b
// knows no peer at all, only where to load beacons from, and finds the
// network through it.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peercloud/peercloud/beacon"
)

func TestBeaconFileFindsTheNetwork(t *testing.T) {
	s := newSite(t)
	file := filepath.Join(t.TempDir(), "beacon")
	common := []string{"-l", "3210", "--no-port-forwarding", "--password", "beacon-e2e", "--beacon-interval", "1", "--beacon-password", "bp"}
	s.start("a", append([]string{"--ip", s.tunnel("a") + "/24", "--advertise-addresses", s.underlay("a") + ":3210", "--beacon-store", file}, common...)...)
	s.start("b", append([]string{"--ip", s.tunnel("b") + "/24", "--beacon-load", file}, common...)...)
	s.mustPingBothWays(20 * time.Second)

	// The file is a VpnCloud beacon of a's address.
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	peers, err := beacon.New("bp").Decode(string(text), time.Now(), beacon.DefaultTTL)
	if err != nil || len(peers) != 1 || peers[0].String() != s.underlay("a")+":3210" {
		t.Fatalf("beacon file %q decodes to %v, %v", text, peers, err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o444 {
		t.Fatalf("beacon file mode: %v, %v", fi, err)
	}
	// A clean stop removes the beacon file.
	if err := s.stop("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("beacon file still there after a stopped: %v", err)
	}
}

func TestBeaconCommandFindsTheNetwork(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	board := filepath.Join(dir, "board")
	env := filepath.Join(dir, "env")
	common := []string{"-l", "3210", "--no-port-forwarding", "--password", "beacon-cmd-e2e", "--beacon-interval", "1"}
	// The store command publishes the beacon among other text, as a
	// message board would; it sees $begin, $data, $end and $beacon.
	store := `|{ echo "posted at $(date)"; echo "$beacon"; echo bye; } > ` + board + `.tmp && mv ` + board + `.tmp ` + board +
		` && echo "$begin $data $end" > ` + env
	s.start("a", append([]string{"--ip", s.tunnel("a") + "/24", "--advertise-addresses", s.underlay("a") + ":3210", "--beacon-store", store}, common...)...)
	s.start("b", append([]string{"--ip", s.tunnel("b") + "/24", "--beacon-load", "|cat " + board}, common...)...)
	s.mustPingBothWays(20 * time.Second)

	b, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Fields(string(b))
	c := beacon.New("")
	if len(parts) != 3 || parts[0] != c.Begin() || parts[2] != c.End() {
		t.Fatalf("store command environment: %q", b)
	}
	peers, err := c.DecodeData(parts[1], time.Now(), beacon.DefaultTTL)
	if err != nil || len(peers) != 1 || peers[0].String() != s.underlay("a")+":3210" {
		t.Fatalf("$data decodes to %v, %v", peers, err)
	}
	// A command target is not a file: stopping leaves the board alone.
	if err := s.stop("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(board); err != nil {
		t.Fatalf("board removed on stop: %v", err)
	}
}
