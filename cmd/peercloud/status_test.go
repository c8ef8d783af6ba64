package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peercloud/peercloud/status"
)

func TestStatusSubcommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pc9.sock")
	srv, err := status.Listen(path, -1, func(context.Context) (*status.Report, error) {
		return &status.Report{Device: "pc9", Listen: "0.0.0.0:3210", Mode: "router",
			Peers: []status.Peer{{Addr: "10.9.0.2:3210", NodeID: "abcd", Algorithm: "AES256", Claims: []string{"10.0.0.2/32"}},
				{Addr: "[100::3]:1", Via: "10.9.0.2:3210", NodeID: "ef01", Algorithm: "AES256"}}}, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	code, out, errOut := runCLI(t, nil, "status", "--socket", path)
	if code != exitOK || !strings.Contains(out, "interface: pc9\n") || !strings.Contains(out, "peer: 10.9.0.2:3210\n  node id: abcd\n  algorithm: AES256") {
		t.Errorf("status: %d %q %q", code, out, errOut)
	}
	if !strings.Contains(out, "peer: [100::3]:1\n  via: 10.9.0.2:3210 (relayed)\n  node id: ef01\n") {
		t.Errorf("status does not show the relay of a relayed peer: %q", out)
	}
	code, out, _ = runCLI(t, nil, "status", "--json", "--socket", path)
	var r status.Report
	if code != exitOK || json.Unmarshal([]byte(out), &r) != nil || len(r.Peers) != 2 || r.Peers[0].Claims[0] != "10.0.0.2/32" ||
		r.Peers[0].Via != "" || r.Peers[1].Via != "10.9.0.2:3210" || !strings.Contains(out, `"via": "10.9.0.2:3210"`) {
		t.Errorf("status --json: %d %q", code, out)
	}
	code, _, errOut = runCLI(t, nil, "status", "--socket", path+".missing")
	if code != exitFail || !strings.Contains(errOut, "connecting to") {
		t.Errorf("missing socket: %d %q", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "status", "--socket", path, "-d", "x")
	if code != exitUsage || !strings.Contains(errOut, "cannot be used together") {
		t.Errorf("--socket and -d: %d %q", code, errOut)
	}
	code, out, _ = runCLI(t, nil, "status", "--help")
	if code != exitOK || !strings.Contains(out, "--json") {
		t.Errorf("status --help: %d %q", code, out)
	}
}

// liveSocket listens on dir/name until the test ends.
func liveSocket(t *testing.T, dir, name string) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

func TestStatusSocketChoice(t *testing.T) {
	dir := t.TempDir()
	o := &statusOptions{}
	if _, err := o.socketPath(dir); err == nil || !strings.Contains(err.Error(), "no running peercloud daemon") {
		t.Errorf("no socket: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "stale.sock"), nil, 0o600) // left by a killed daemon: ignored
	liveSocket(t, dir, "a.sock")
	if p, err := o.socketPath(dir); err != nil || p != filepath.Join(dir, "a.sock") {
		t.Errorf("one socket: %q %v", p, err)
	}
	liveSocket(t, dir, "b.sock")
	if _, err := o.socketPath(dir); err == nil || !strings.Contains(err.Error(), "a, b") {
		t.Errorf("two sockets: %v", err)
	}
	o.device = "b"
	if p, _ := o.socketPath(dir); p != filepath.Join(dir, "b.sock") {
		t.Errorf("-d b: %q", p)
	}
	// A socket of this network namespace wins over the host's.
	self, _ := os.Readlink("/proc/self/ns/net")
	own := "@net" + strings.TrimSuffix(strings.TrimPrefix(self, "net:["), "]")
	liveSocket(t, dir, "b"+own+".sock")
	liveSocket(t, dir, "c@net1.sock")
	if p, _ := o.socketPath(dir); p != filepath.Join(dir, "b"+own+".sock") {
		t.Errorf("-d b in this namespace: %q", p)
	}
	o.device = ""
	if p, err := o.socketPath(dir); err != nil || p != filepath.Join(dir, "b"+own+".sock") {
		t.Errorf("only daemon of this namespace: %q %v", p, err)
	}
}
