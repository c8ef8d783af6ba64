package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/peercloud/peercloud/bench"
	"github.com/peercloud/peercloud/internal/testenv"
)

func names(cs []bench.Contender) []string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return n
}

func TestFlagsAllContenders(t *testing.T) {
	dir := t.TempDir()
	neb := filepath.Join(dir, "nebula")
	os.WriteFile(filepath.Join(dir, "nebula-cert"), []byte("#!/bin/sh\n"), 0o755)
	s, err := parseFlags([]string{"--wireguard-go", "/usr/bin/wireguard-go", "--nebula", neb, "--vpncloud", "/opt/vpncloud",
		"--ciphers", "aes128,CHACHA20", "--duration", "7s", "--baseline", "nebula", "--out", "/tmp/x"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	got := names(s.contenders("/bin/peercloud"))
	want := []string{"peercloud-aes128", "peercloud-chacha20", "wireguard-go", "nebula", "vpncloud-aes128", "vpncloud-chacha20"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("contenders %v, want %v", got, want)
	}
	cs := s.contenders("/bin/peercloud")
	if cs[2].Helper != "wg" || cs[3].Helper != filepath.Join(dir, "nebula-cert") || cs[0].Bin != "/bin/peercloud" {
		t.Errorf("helpers: wg %q, nebula-cert %q (want the one beside nebula)", cs[2].Helper, cs[3].Helper)
	}
	if o := s.options(); o.Duration != 7*time.Second || o.Streams != 4 || o.PingCount != 200 || o.Rounds != 1 {
		t.Errorf("options %+v", o)
	}
}

func TestFlagsRounds(t *testing.T) {
	s, err := parseFlags([]string{"--rounds", "3"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o := s.options(); o.Rounds != 3 {
		t.Errorf("rounds %d, want 3", o.Rounds)
	}
	s, err = parseFlags([]string{"--rounds", "3", "--smoke"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o := s.options(); o.Rounds > 1 {
		t.Errorf("smoke runs %d rounds, want one", o.Rounds)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--rounds", "0"}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "--rounds") {
		t.Errorf("--rounds 0: exit %d, stderr %q", code, stderr.String())
	}
}

func TestFlagsCongestion(t *testing.T) {
	s, err := parseFlags([]string{"--congestion", "cubic"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o := s.options(); o.Congestion != "cubic" {
		t.Errorf("congestion %q, want cubic", o.Congestion)
	}
	for _, bad := range []string{"Cubic", "cu bic", "../x", "averyveryverylongname"} {
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"--congestion", bad}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "congestion") {
			t.Errorf("--congestion %q: exit %d, stderr %q", bad, code, stderr.String())
		}
	}
}

func TestFlagsSmoke(t *testing.T) {
	s, err := parseFlags([]string{"--smoke", "--nebula", "/usr/bin/nebula", "--duration", "30s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(s.contenders("/p")); !reflect.DeepEqual(got, []string{"peercloud-aes128"}) {
		t.Errorf("smoke contenders %v, want peercloud-aes128 only", got)
	}
	if o := s.options(); o.Duration != time.Second {
		t.Errorf("smoke duration %v, want 1 s", o.Duration)
	}
}

func TestFlagsVariants(t *testing.T) {
	s, err := parseFlags([]string{"--ciphers", "aes128,chacha20", "--variant", "nooffload=--no-tun-offload --no-udp-gso --no-udp-gro", "--variant", "q2=--tun-queues 2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cs := s.contenders("/p")
	want := []string{"peercloud-aes128", "peercloud-aes128-nooffload", "peercloud-aes128-q2", "peercloud-chacha20", "peercloud-chacha20-nooffload", "peercloud-chacha20-q2"}
	if got := names(cs); !reflect.DeepEqual(got, want) {
		t.Fatalf("contenders %v, want %v", got, want)
	}
	if got := strings.Join(cs[1].Extra, " "); got != "--no-tun-offload --no-udp-gso --no-udp-gro" || cs[1].Cipher != "aes128" {
		t.Errorf("variant flags %q cipher %q", got, cs[1].Cipher)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--variant", "nope"}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "NAME=FLAGS") {
		t.Errorf("bad variant: exit %d, stderr %q", code, stderr.String())
	}
}

func TestFlagsCompare(t *testing.T) {
	s, err := parseFlags([]string{"--ciphers", "aes128", "--compare", "base=/tmp/old", "--variant", "q2=--tun-queues 2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cs := s.contenders("/p")
	want := []string{"peercloud-aes128", "peercloud-aes128-q2", "peercloud-aes128-base"}
	if got := names(cs); !reflect.DeepEqual(got, want) {
		t.Fatalf("contenders %v, want %v", got, want)
	}
	if cs[2].Bin != "/tmp/old" || len(cs[2].Extra) != 0 || cs[0].Bin != "/p" {
		t.Errorf("compare contender %+v", cs[2])
	}
	for _, bad := range []string{"base", "base=", "=/x", "Bad=/x"} {
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"--compare", bad}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "compare") {
			t.Errorf("--compare %q: exit %d, stderr %q", bad, code, stderr.String())
		}
	}
}

func TestBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--no-such-flag"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "no-such-flag") {
		t.Errorf("stderr %q", stderr.String())
	}
	if code := run(context.Background(), []string{"extra"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("stray argument: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"--help"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Errorf("--help: exit %d, want 0", code)
	}
}

func TestUnknownBaselineFailsBeforeMeasuring(t *testing.T) {
	if os.Geteuid() != 0 {
		// Without root the run stops at the root check, which is what the
		// user sees first; that path is covered here too.
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"--peercloud", "/bin/true", "--baseline", "x"}, &bytes.Buffer{}, &stderr); code != 1 || !strings.Contains(stderr.String(), "needs root") {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
		return
	}
	var stderr bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"--peercloud", "/bin/true", "--baseline", "tinc", "--out", t.TempDir()}, &bytes.Buffer{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), `baseline "tinc" is not among the contenders`) || strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
		t.Errorf("exit %d, stderr %q; want one line naming the baseline", code, stderr.String())
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the bad baseline should be reported before any measurement")
	}
}

// TestRootInterruptedCommand runs the command as a user does, interrupts it
// with SIGINT while it measures and checks that it says so, exits 130 and
// leaves no namespace behind.
func TestRootInterruptedCommand(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Exclusive(t, "bench-harness") // same addresses as the other package's harness tests
	dir := t.TempDir()
	cmdBin := filepath.Join(dir, "peercloud-bench")
	if out, err := exec.Command("go", "build", "-o", cmdBin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pc := os.Getenv("PEERCLOUD_BIN")
	if pc == "" {
		pc = filepath.Join(dir, "peercloud")
		if out, err := exec.Command("go", "build", "-o", pc, "github.com/peercloud/peercloud/cmd/peercloud").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	prefix := fmt.Sprintf("pcbc%d", os.Getpid()%10000)
	// Files, not buffers: the test reads them while the command writes.
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cmdBin, "--peercloud", pc, "--ciphers", "aes128", "--duration", "30s", "--netns-prefix", prefix, "--out", filepath.Join(dir, "out"))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	errText := func() string { b, _ := os.ReadFile(stderr.Name()); return string(b) }
	for !namespaceExists(prefix+"-b") || !strings.Contains(errText(), "measuring") {
		if time.Now().After(deadline) {
			t.Fatalf("the command did not start measuring: %s", errText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // into the first iperf3 test
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the command did not exit within 20 s of SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d, want 130; stderr:\n%s", code, errText())
	}
	if !strings.Contains(errText(), "interrupted; namespaces and processes removed") {
		t.Errorf("stderr does not report the interrupt:\n%s", errText())
	}
	for _, n := range []string{"a", "b"} {
		if namespaceExists(prefix + "-" + n) {
			t.Errorf("namespace %s-%s left behind", prefix, n)
			exec.Command("ip", "netns", "del", prefix+"-"+n).Run()
		}
	}
}

func namespaceExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

func TestMissingToolIsOneClearLine(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no ip, ping, iperf3, go
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"--smoke"}, &bytes.Buffer{}, &stderr)
	msg := strings.TrimSpace(stderr.String())
	want := "apt-get install -y iproute2"
	if os.Geteuid() != 0 {
		want = "needs root" // the first thing a user without root is told
	}
	if code != 1 || !strings.Contains(msg, want) || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") {
		t.Fatalf("exit %d, stderr %q; want one line containing %q", code, msg, want)
	}
}
