package daemon

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/handshake"
)

func TestOpenKeyLog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)

	if f, err := openKeyLog("", log); f != nil || err != nil {
		t.Fatalf("empty path: %v %v", f, err)
	}
	if logs.Len() != 0 {
		t.Errorf("empty path logged: %v", logs.All())
	}

	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("earlier\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openKeyLog(path, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("later\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, _ := os.ReadFile(path); string(b) != "earlier\nlater\n" {
		t.Errorf("the key log is not appended to: %q", b)
	}
	warn := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(warn) != 1 || warn[0].ContextMap()["path"] != path || !strings.Contains(warn[0].Message, "session keys") {
		t.Errorf("no warning naming the key log: %v", logs.All())
	}

	fresh := filepath.Join(t.TempDir(), "fresh")
	f, err = openKeyLog(fresh, log)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("a new key log must be private (0600): %v %v", st.Mode(), err)
	}

	_, err = openKeyLog(filepath.Join(t.TempDir(), "missing", "keys"), log)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), KeyLogEnv) {
		t.Errorf("a key log in a missing directory: %v", err)
	}
}

// TestKeyLogGetsMasterKeys runs a handshake between two nodes configured
// as the daemon configures them, with the key log the daemon opens: the
// file gets each side's master keys (peercloud's key schedule: a send and a
// recv line each).
func TestKeyLogGetsMasterKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	f, err := openKeyLog(path, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var peers [2]*handshake.Peer
	for i := range peers {
		cfg := config.Default()
		cfg.Crypto.Password = "keylog-test"
		hc, err := HandshakeConfig(cfg, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		hc.KeyLog = f
		if peers[i], err = handshake.NewPeer(hc, []byte{}); err != nil {
			t.Fatal(err)
		}
	}
	ping, err := peers[0].Start()
	if err != nil {
		t.Fatal(err)
	}
	type msg struct {
		to  int
		pkt []byte
	}
	queue := []msg{{1, ping}}
	for steps := 0; len(queue) > 0 && steps < 20; steps++ {
		m := queue[0]
		queue = queue[1:]
		if m.pkt[0] != handshake.InitByte {
			continue // the first rotation message, sealed
		}
		res, err := peers[m.to].HandleInit(m.pkt)
		if err != nil {
			t.Fatalf("peer %d: %v", m.to, err)
		}
		for _, r := range res.Replies {
			queue = append(queue, msg{1 - m.to, r})
		}
	}
	if !peers[0].Established() || !peers[1].Established() {
		t.Fatal("the handshake did not complete")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var master int
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "master/send ") || strings.HasPrefix(l, "master/recv ") {
			master++
		}
	}
	if master != 4 {
		t.Errorf("want 4 master lines (send and recv of both nodes), got %d:\n%s", master, b)
	}
}
