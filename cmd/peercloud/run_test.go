package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/config"
)

// runCLI runs the command in-process and returns exit code, stdout, stderr.
func runCLI(t *testing.T, env map[string]string, argv ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), argv, &stdout, &stderr, envOf(env))
	return code, stdout.String(), stderr.String()
}

// Key pairs printed by a real `vpncloud genkey --password PW` (shared/interop).
var passwordVectors = [][3]string{
	{"fixture-password", "cX0omtNtLbTymwxaf8odUZIuOYebfCsgxB2MflPxAeN", "flN5YEoeMYZldxcfFm8nQ2rmJAeaSIilWcWCG7WD9lZ"},
	{"correct horse battery staple", "qBym61N7f4zsggpouzzXHTH9dfD9bXx9LHQ4wO8W0ID", "de1Trtvx1tFUohMy33gPUxMRJ0jIAd0H71aMLUPkMEt"},
	{"pässwörd-ünïcode", "RnVssJyW2TJcb8KwbVaz2aOIUcvU45X7relWAuD8RJ5", "jX7RJgO575KTEMDLwnhAKUUvg4QkFjbOklA0IOdF1lj"},
}

const genkeyAttention = "Attention: Keep the private key secret and use only the public key on other nodes to establish trust.\n"

func TestGenkeyPasswordMatchesVpnCloud(t *testing.T) {
	for _, v := range passwordVectors {
		want := "Private key: " + v[1] + "\nPublic key: " + v[2] + "\n\n" + genkeyAttention
		code, out, errOut := runCLI(t, nil, "genkey", "--password", v[0])
		if code != exitOK || out != want || errOut != "" {
			t.Errorf("genkey --password %q: code %d\n%s\nwant\n%s\nstderr %q", v[0], code, out, want, errOut)
		}
		code, out, _ = runCLI(t, map[string]string{"PASSWORD": v[0]}, "gen-key")
		if code != exitOK || out != want {
			t.Errorf("PASSWORD=%q genkey: got %q", v[0], out)
		}
	}
}

func TestGenkeyRandom(t *testing.T) {
	re := regexp.MustCompile("^Private key: ([0-9A-Za-z]+)\nPublic key: ([0-9A-Za-z]+)\n\n" + regexp.QuoteMeta(genkeyAttention) + "$")
	code, out1, _ := runCLI(t, nil, "genkey")
	_, out2, _ := runCLI(t, nil, "genkey")
	m := re.FindStringSubmatch(out1)
	if code != exitOK || m == nil {
		t.Fatalf("genkey output %q", out1)
	}
	if out1 == out2 {
		t.Error("two random key pairs are equal")
	}
	// The printed pair is accepted as private-key + public-key.
	c := config.Default()
	c.Crypto.PrivateKey, c.Crypto.PublicKey = m[1], m[2]
	if err := c.Validate(); err != nil {
		t.Errorf("generated pair rejected: %v", err)
	}
}

func TestGenkeyWriteError(t *testing.T) {
	if err := genkey(failWriter{}, nil, nil); err == nil || !strings.Contains(err.Error(), "genkey: write") {
		t.Errorf("got %v", err)
	}
	if err := genkey(&bytes.Buffer{}, nil, bytes.NewReader(nil)); err == nil || !strings.Contains(err.Error(), "genkey") {
		t.Errorf("short random source: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := runCLI(t, nil, "--help")
	if code != exitOK || !strings.Contains(out, "--peer-timeout <seconds>") {
		t.Errorf("--help: %d %q", code, out)
	}
	code, out, _ = runCLI(t, nil, "genkey", "--help")
	if code != exitOK || !strings.Contains(out, "-p, --password <password>") {
		t.Errorf("genkey --help: %d %q", code, out)
	}
	code, out, _ = runCLI(t, nil, "--version")
	if code != exitOK || out != "peercloud "+version+" (VpnCloud 2.3.0 compatible)\n" {
		t.Errorf("--version: %d %q", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "--no-such-flag")
	if code != exitUsage || out != "" || !strings.Contains(errOut, "unknown flag: --no-such-flag") || !strings.Contains(errOut, "--help") {
		t.Errorf("got %d %q %q", code, out, errOut)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileAndFlagsMerge(t *testing.T) {
	p := writeFile(t, "net.net", `
listen: 3000
peers: [a.example:1]
claims: [10.0.0.0/24]
crypto:
  password: filepw
  algorithms: [aes128]
mode: hub
peer-timeout: 600
hooks:
  vpn_started: echo file
`)
	inv, err := parseCommandLine([]string{"--config", p, "-l", "4000", "-c", "b.example:2", "--claim", "10.1.0.0/24",
		"--algo", "chacha20", "--hook", "vpn_shutdown:echo flag", "-t", "tap"}, envOf(map[string]string{"PASSWORD": "envpw"}))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := buildConfig(inv)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case cfg.Listen != "4000":
		t.Errorf("flag must override listen: %q", cfg.Listen)
	case strings.Join(cfg.Peers, " ") != "a.example:1 b.example:2":
		t.Errorf("peers must merge: %q", cfg.Peers)
	case strings.Join(cfg.Claims, " ") != "10.0.0.0/24 10.1.0.0/24":
		t.Errorf("claims must merge: %q", cfg.Claims)
	case strings.Join(cfg.Crypto.Algorithms, " ") != "chacha20":
		t.Errorf("algorithms from flags replace, as VpnCloud: %q", cfg.Crypto.Algorithms)
	case cfg.Crypto.Password != "envpw":
		t.Errorf("env PASSWORD overrides the file as a flag does: %q", cfg.Crypto.Password)
	case cfg.Mode != config.ModeHub || cfg.PeerTimeout != 600*time.Second || cfg.Device.Type != config.DeviceTAP:
		t.Errorf("scalars: %v %v %v", cfg.Mode, cfg.PeerTimeout, cfg.Device.Type)
	case cfg.Hooks["vpn_started"] != "echo file" || cfg.Hooks["vpn_shutdown"] != "echo flag":
		t.Errorf("hooks must merge: %v", cfg.Hooks)
	}
}

func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	p := writeFile(t, "bad.net", "crypto:\n  password: x\npeers:\n  - ok:1\n  - 'not a host'\n")
	code, _, errOut := runCLI(t, nil, "--config", p, "--claim", "300.0.0.0/8")
	if code != exitUsage {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{"config: line 5: peers[1]:", "config: claims[0] (flag --claim):"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	p = writeFile(t, "syntax.net", "listen: 1\npeer-timeout: abc\n")
	_, _, errOut = runCLI(t, nil, "--config", p)
	if !strings.Contains(errOut, p) || !strings.Contains(errOut, `config: line 2: peer-timeout: "abc" is not a number of seconds`) {
		t.Errorf("stderr %q", errOut)
	}
	_, _, errOut = runCLI(t, nil, "-l", "1")
	if !strings.Contains(errOut, "either crypto.password or crypto.private-key must be set") {
		t.Errorf("missing password: %q", errOut)
	}
}

// TestDaemonFailureIsLogged runs the real daemon with a device path that
// does not exist: it must fail at start, log the error and exit non-zero.
func TestDaemonFailureIsLogged(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "peercloud.log")
	if err := os.WriteFile(logPath, []byte("old content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noDev := filepath.Join(t.TempDir(), "no-such-tun")
	code, out, _ := runCLI(t, nil, "-p", "x", "--log-file", logPath, "--device-path", noDev, "--config", filepath.Join("..", "..", "config", "testdata", "example.net.disabled"))
	if code != exitFail || !strings.Contains(out, "ERROR") || !strings.Contains(out, "opening the device") {
		t.Errorf("got %d %q", code, out)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "old content") || !strings.Contains(string(b), "opening the device") || !strings.Contains(string(b), "read config file") {
		t.Errorf("log file %q: want it truncated and holding the log", b)
	}
	code, _, errOut := runCLI(t, nil, "-p", "x", "--log-file", filepath.Join(t.TempDir(), "no", "such", "dir"))
	if code != exitFail || !strings.Contains(errOut, "open log file") {
		t.Errorf("bad log file: %d %q", code, errOut)
	}
}

func TestLoggerLevels(t *testing.T) {
	for _, tc := range []struct {
		o                logOptions
		debug, info, wrn bool
	}{
		{logOptions{}, false, true, true},
		{logOptions{verbose: true}, true, true, true},
		{logOptions{quiet: true}, false, false, true},
	} {
		var buf bytes.Buffer
		tc.o.out = &buf
		log, closeFn, err := newLogger(tc.o)
		if err != nil {
			t.Fatal(err)
		}
		log.Debug("d-msg")
		log.Info("i-msg", zap.String("peer", "10.0.0.1:3210"))
		log.Warn("w-msg")
		closeFn()
		out := buf.String()
		if strings.Contains(out, "d-msg") != tc.debug || strings.Contains(out, "i-msg") != tc.info || strings.Contains(out, "w-msg") != tc.wrn {
			t.Errorf("%+v: output %q", tc.o, out)
		}
		if tc.info && !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO i-msg \{"peer": "10.0.0.1:3210"\}$`).MatchString(out) {
			t.Errorf("console format: %q", out)
		}
	}
	var buf bytes.Buffer
	log, closeFn, err := newLogger(logOptions{out: &buf, journal: true})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("j-msg")
	log.Debug("hidden")
	log.Warn("w-msg")
	log.Error("e-msg")
	closeFn()
	if buf.String() != "<6>INFO j-msg\n<4>WARN w-msg\n<3>ERROR e-msg\n" {
		t.Errorf("journal output %q: want syslog priorities and no time stamp", buf.String())
	}
}

// The real binary, built and run as a user runs it.
func TestBinaryEndToEnd(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "peercloud")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "genkey")
	cmd.Env = append(os.Environ(), "PASSWORD="+passwordVectors[0][0])
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), "Private key: "+passwordVectors[0][1]+"\n") {
		t.Errorf("PASSWORD=... peercloud genkey: %v %q", err, out)
	}
	p := writeFile(t, "bad.net", "listen: 1\nbogus: 2\n")
	cmd = exec.Command(bin, "--config", p)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(stderr.String(), "line 2: bogus: unknown key") {
		t.Errorf("bad config: %v %q", err, stderr.String())
	}
	cmd = exec.Command(bin, "-p", "x", "-l", "127.0.0.1:0", "--device-path", filepath.Join(t.TempDir(), "no-such-tun"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err = cmd.Output()
	if !errors.As(err, &ee) || ee.ExitCode() != exitFail || !strings.Contains(string(out), "opening the device") {
		t.Errorf("daemon: %v %q", err, out)
	}
}
