package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/peercloud/peercloud/config"
)

func TestLoggerLevelSwitchesAtRunTime(t *testing.T) {
	var buf bytes.Buffer
	level := zap.NewAtomicLevel()
	log, closeFn, err := newLogger(logOptions{out: &buf, quiet: true, level: &level})
	if err != nil {
		t.Fatal(err)
	}
	if level.Level() != zapcore.WarnLevel {
		t.Fatalf("-q: level %v", level.Level())
	}
	log.Info("before")
	level.SetLevel(levelFor(true, false, "")) // what a reload does
	log.Debug("after")
	closeFn()
	if out := buf.String(); strings.Contains(out, "before") || !strings.Contains(out, "after") {
		t.Fatalf("output %q: the logger did not follow the level", out)
	}
	for _, tc := range []struct {
		v, q bool
		file string
		want zapcore.Level
	}{
		{false, false, "", zapcore.InfoLevel}, {true, false, "", zapcore.DebugLevel}, {false, true, "", zapcore.WarnLevel},
		{false, false, "debug", zapcore.DebugLevel}, {false, false, "error", zapcore.ErrorLevel},
		{true, false, "error", zapcore.DebugLevel}, {false, true, "debug", zapcore.WarnLevel}, // flags win
	} {
		if got := levelFor(tc.v, tc.q, tc.file); got != tc.want {
			t.Errorf("levelFor(%v, %v, %q) = %v", tc.v, tc.q, tc.file, got)
		}
	}
}

func TestDaemonizeRefusesUnknownUser(t *testing.T) {
	cfg := config.Default()
	cfg.User = "no-such-user-peercloud"
	var out, errOut bytes.Buffer
	if code := daemonize(nil, cfg, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "no-such-user-peercloud") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestNewSystemRefusesUnknownGroup(t *testing.T) {
	cfg := config.Default()
	cfg.Group = "no-such-group-peercloud"
	level := zap.NewAtomicLevel()
	if _, err := newSystem(zap.NewNop(), &level, cfg, nil, nil); err == nil {
		t.Fatal("unknown group accepted")
	}
}
