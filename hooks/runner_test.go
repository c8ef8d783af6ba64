package hooks

import (
	"bufio"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// envScript writes the script's environment to dir/<EVENT>.env.
func envScript(dir string) string {
	return "env > " + dir + "/$EVENT.env"
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestFireEnvironment(t *testing.T) {
	dir := t.TempDir()
	r := New(Config{Script: func(string) string { return envScript(dir) }, Environ: []string{"BASE=1", "PATH=" + os.Getenv("PATH")}})
	r.SetIfName("vpn7")
	if !r.Fire(DeviceSetup, nil) {
		t.Fatal("Fire returned false")
	}
	r.PeerEvent(control.Event{Kind: control.EventPeerConnected, Peer: netip.MustParseAddrPort("[::ffff:10.0.0.2]:3210"),
		NodeID: "00112233445566778899aabbccddeeff", Claims: []string{"10.1.0.0/16", "10.2.0.1/32"}})
	r.PeerEvent(control.Event{Kind: control.EventPeerDisconnected, Peer: netip.MustParseAddrPort("[fd00::1]:3210"),
		NodeID: "ff", Reason: "timeout"})
	r.Fire(VPNStarted, map[string]string{"IFNAME": "other"})
	r.Close()
	if r.Ran() != 4 || r.Failed() != 0 || r.Dropped() != 0 {
		t.Fatalf("ran %d failed %d dropped %d, want 4 0 0", r.Ran(), r.Failed(), r.Dropped())
	}

	env := readEnv(t, filepath.Join(dir, "device_setup.env"))
	if env["EVENT"] != "device_setup" || env["IFNAME"] != "vpn7" || env["BASE"] != "1" {
		t.Errorf("device_setup env = %v", env)
	}
	env = readEnv(t, filepath.Join(dir, "peer_connected.env"))
	want := map[string]string{"EVENT": "peer_connected", "IFNAME": "vpn7", "PEER": "10.0.0.2:3210",
		"NODE_ID": "00112233445566778899aabbccddeeff", "CLAIMS": "10.1.0.0/16 10.2.0.1/32"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("peer_connected %s = %q, want %q", k, env[k], v)
		}
	}
	env = readEnv(t, filepath.Join(dir, "peer_disconnected.env"))
	want = map[string]string{"EVENT": "peer_disconnected", "PEER": "[fd00::1]:3210", "NODE_ID": "ff", "REASON": "timeout"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("peer_disconnected %s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["CLAIMS"]; ok {
		t.Error("peer_disconnected has CLAIMS")
	}
	if env := readEnv(t, filepath.Join(dir, "vpn_started.env")); env["IFNAME"] != "other" {
		t.Errorf("explicit IFNAME = %q, want other", env["IFNAME"])
	}
}

func TestFromConfigPicksScripts(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Hook = "echo general > " + dir + "/$EVENT"
	cfg.Hooks["peer_connected"] = "echo special > " + dir + "/$EVENT"
	r := New(FromConfig(cfg, nil))
	r.Fire(PeerConnected, nil)
	r.Fire(VPNShutdown, nil)
	r.Close()
	for ev, want := range map[string]string{"peer_connected": "special\n", "vpn_shutdown": "general\n"} {
		b, err := os.ReadFile(filepath.Join(dir, ev))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", ev, b, err, want)
		}
	}
}

func TestNoScriptIsNoop(t *testing.T) {
	r := New(Config{Script: func(ev string) string {
		if ev == VPNStarted {
			return "true"
		}
		return ""
	}})
	if r.Fire(DeviceSetup, nil) {
		t.Error("Fire without a script returned true")
	}
	r.Close()
	if r.Ran() != 0 {
		t.Errorf("ran %d scripts", r.Ran())
	}
	if r.Fire(VPNStarted, nil) {
		t.Error("Fire after Close returned true")
	}
	if r.Close() != nil {
		t.Error("second Close failed")
	}
}

func TestBlockedHookNeverBlocksFire(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	dir := t.TempDir()
	r := New(Config{Script: func(string) string { return "sleep 5; touch " + dir + "/late" }, Queue: 2,
		Timeout: 300 * time.Millisecond, Log: zap.New(core)})
	start := time.Now()
	accepted := 0
	for range 100 {
		if r.Fire(PeerConnecting, nil) {
			accepted++
		}
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("100 Fire calls took %v with a blocked hook", d)
	}
	if accepted > 3 || r.Dropped() != uint64(100-accepted) {
		t.Errorf("accepted %d, dropped %d", accepted, r.Dropped())
	}
	if logs.FilterMessage("hook queue full, event dropped").Len() == 0 {
		t.Error("no warning for a full queue")
	}
	r.Close()
	if r.Failed() != uint64(accepted) {
		t.Errorf("failed %d, want %d timeouts", r.Failed(), accepted)
	}
	if logs.FilterMessage("hook failed").Len() != accepted {
		t.Errorf("%d failure logs, want %d", logs.FilterMessage("hook failed").Len(), accepted)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "late")); err == nil {
		t.Error("a timed-out script was not killed")
	}
}

func TestRunErrors(t *testing.T) {
	r := New(Config{Timeout: 200 * time.Millisecond})
	defer r.Close()
	out, err := r.run("echo oops; exit 3", nil)
	if !errors.Is(err, ErrFailed) || string(out) != "oops\n" {
		t.Errorf("exit 3: %q, %v", out, err)
	}
	// A child that keeps the output open must not hold up the timeout.
	start := time.Now()
	_, err = r.run("sleep 10 & sleep 10", nil)
	if !errors.Is(err, ErrTimeout) || time.Since(start) > 3*time.Second {
		t.Errorf("timeout: %v after %v", err, time.Since(start))
	}
	if _, err := r.run("true", nil); err != nil {
		t.Errorf("true: %v", err)
	}
}

func TestOutputIsBounded(t *testing.T) {
	r := New(Config{})
	defer r.Close()
	out, err := r.run("head -c 100000 /dev/zero", nil)
	if err != nil || len(out) != maxOutput {
		t.Errorf("got %d bytes, %v; want %d", len(out), err, maxOutput)
	}
}
