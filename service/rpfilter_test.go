package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func fakeConf(t *testing.T, vals map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for dev, v := range vals {
		if err := os.MkdirAll(filepath.Join(dir, dev), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dev, "rp_filter"), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func read(t *testing.T, dir, dev string) string {
	b, err := os.ReadFile(filepath.Join(dir, dev, "rp_filter"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestRPFilterFix(t *testing.T) {
	for _, tc := range []struct{ all, dev, wantAll, wantDev string }{
		{"2", "0", "1", "1"},
		{"0", "0", "0", "1"},
		{"1", "2", "1", "1"},
		{"0", "1", "0", "1"},
	} {
		dir := fakeConf(t, map[string]string{"all": tc.all, "tun0": tc.dev})
		core, logs := observer.New(zapcore.InfoLevel)
		r := RPFilter{Dir: dir, Log: zap.New(core)}
		if err := r.Fix("tun0"); err != nil {
			t.Fatal(err)
		}
		if a, d := read(t, dir, "all"), read(t, dir, "tun0"); a != tc.wantAll || d != tc.wantDev {
			t.Errorf("all=%s dev=%s: got all=%s dev=%s, want %s %s", tc.all, tc.dev, a, d, tc.wantAll, tc.wantDev)
		}
		if v, err := r.Get("tun0"); err != nil || v != 1 {
			t.Errorf("after Fix: Get = %d, %v", v, err)
		}
		if tc.dev != "1" && logs.FilterMessage("Setting net.ipv4.conf.tun0.rp_filter=1").Len() != 1 {
			t.Errorf("the change was not logged: %v", logs.All())
		}
	}
}

func TestRPFilterCheckWarnsLikeVpnCloud(t *testing.T) {
	for _, tc := range []struct {
		all, dev string
		want     int
		warn     bool
	}{
		{"0", "0", 0, true},
		{"2", "1", 2, true},
		{"0", "1", 1, false},
		{"1", "0", 1, false},
	} {
		core, logs := observer.New(zapcore.WarnLevel)
		r := RPFilter{Dir: fakeConf(t, map[string]string{"all": tc.all, "tun0": tc.dev}), Log: zap.New(core)}
		if got := r.Check("tun0"); got != tc.want {
			t.Errorf("all=%s dev=%s: Check = %d, want %d", tc.all, tc.dev, got, tc.want)
		}
		warned := logs.FilterMessage(Warning(tc.want)).Len() == 1
		if warned != tc.warn {
			t.Errorf("all=%s dev=%s: warned %v, want %v", tc.all, tc.dev, warned, tc.warn)
		}
	}
	if !strings.Contains(Warning(0), "cve-2019-14899") || !strings.Contains(Warning(0), "(currently 0)") {
		t.Fatalf("warning text differs from VpnCloud's: %s", Warning(0))
	}
}

func TestRPFilterErrors(t *testing.T) {
	r := RPFilter{Dir: fakeConf(t, map[string]string{"all": "x", "tun0": "1"})}
	if _, err := r.Get("tun0"); !errors.Is(err, ErrRPFilter) {
		t.Fatalf("garbage value: err = %v", err)
	}
	if err := r.Fix("tun0"); !errors.Is(err, ErrRPFilter) {
		t.Fatalf("Fix with garbage: err = %v", err)
	}
	r = RPFilter{Dir: fakeConf(t, map[string]string{"all": "0"})}
	if _, err := r.Get("nodev"); !errors.Is(err, ErrRPFilter) {
		t.Fatalf("missing device: err = %v", err)
	}
	if r.Check("nodev") != -1 {
		t.Fatal("Check of an unreadable setting must report -1")
	}
	if err := r.Fix("nodev"); !errors.Is(err, ErrRPFilter) {
		t.Fatalf("Fix of a missing device: err = %v", err)
	}
}
