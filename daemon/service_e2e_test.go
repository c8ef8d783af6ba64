package daemon_test

// Root tier for running as a system daemon: the privilege drop, --daemon
// with --pid-file, and SIGHUP reloads, with the real binary in namespaces.

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peercloud/peercloud/handshake"
)

// procStatus reads the Uid, Gid and CapEff lines of a process or thread
// (first field of each).
func procStatus(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func (s *site) waitLog(name, text string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(filepath.Join(s.logDir, name+".log"))
		if strings.Contains(string(b), text) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("log of %s lacks %q", name, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestUserNobodyDropsPrivilegesAndKeepsForwarding(t *testing.T) {
	s := newSite(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal("the root tier needs a user nobody:", err)
	}
	claim := fmt.Sprintf("10.205.%d.0/24", s.n%250)
	dst := fmt.Sprintf("10.205.%d.7", s.n%250)
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "drop", "--claim", claim)
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210", "--no-port-forwarding",
		"--password", "drop", "--user", "nobody")
	s.waitLog("a", "dropped privileges", 15*time.Second)
	s.mustPingBothWays(15 * time.Second)

	pid := s.procs["a"].Process.Pid
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "peercloud" {
		t.Fatalf("pid %d is %q, not peercloud", pid, comm)
	}
	st := procStatus(t, fmt.Sprintf("/proc/%d/status", pid))
	for _, k := range []string{"Uid", "Gid"} {
		want := nobody.Uid
		if k == "Gid" {
			want = nobody.Gid
		}
		if f := strings.Fields(st[k]); len(f) != 4 || f[0] != want || f[1] != want || f[2] != want || f[3] != want {
			t.Errorf("%s: %q, want real/effective/saved/fs %s", k, st[k], want)
		}
	}
	if st["CapEff"] != "0000000000000000" || st["CapPrm"] != "0000000000000000" {
		t.Errorf("main thread CapEff %s CapPrm %s, want none", st["CapEff"], st["CapPrm"])
	}
	if st["Groups"] != nobody.Gid && st["Groups"] != "" {
		t.Errorf("supplementary groups %q", st["Groups"])
	}
	// Exactly one thread keeps CAP_NET_ADMIN (bit 12), for kernel routes.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	privileged := 0
	for _, p := range tasks {
		ts := procStatus(t, p)
		switch ts["CapEff"] {
		case "0000000000000000":
		case "0000000000001000":
			privileged++
		default:
			t.Errorf("thread %s has capabilities %s", p, ts["CapEff"])
		}
		if !strings.HasPrefix(ts["Uid"], nobody.Uid+"\t") {
			t.Errorf("thread %s runs as uid %q", p, ts["Uid"])
		}
	}
	if privileged != 1 {
		t.Errorf("%d threads hold CAP_NET_ADMIN, want 1", privileged)
	}
	// ... and it works: the route for b's claim was installed after the drop.
	deadline := time.Now().Add(5 * time.Second)
	for s.routeDev("a", dst) != "pca0" {
		if time.Now().After(deadline) {
			t.Fatalf("no route for b's claim %s in a after the privilege drop", claim)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.kill("b")
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "drop")
	if _, err := s.waitPing("a", "b", 15*time.Second); err != nil {
		t.Fatalf("the unprivileged node lost the tunnel after its peer restarted: %v", err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for s.routeDev("a", dst) == "pca0" {
		if time.Now().After(deadline) {
			t.Fatalf("the route for the claim b no longer makes was not removed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDaemonFlagWritesPIDFile(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "a.pid"), filepath.Join(dir, "a.log")
	s.start("b", "--ip", s.tunnel("b")+"/24", "-l", "3210", "--no-port-forwarding", "--password", "bg")
	// The parent returns once the child is ready.
	out, err := s.topo.Output(t.Context(), "a", s.bin, "-d", "pca%d", "--ip", s.tunnel("a")+"/24", "-l", "3210",
		"-c", s.underlay("b")+":3210", "--no-port-forwarding", "--password", "bg",
		"--daemon", "--pid-file", pidFile, "--log-file", logFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q", b)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "peercloud" {
		t.Fatalf("pid file names %d, which is %q, not a running peercloud", pid, comm)
	}
	if !strings.Contains(out, fmt.Sprintf("pid %d", pid)) {
		t.Errorf("parent output %q does not name the daemon's pid", out)
	}
	if st := procStatus(t, fmt.Sprintf("/proc/%d/stat", pid)); st == nil {
		t.Fatal("no stat")
	}
	s.mustPingBothWays(15 * time.Second)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not stop on SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}
	logb, _ := os.ReadFile(logFile)
	if !strings.Contains(string(logb), "vpn started") {
		t.Errorf("log file of the daemon: %s", logb)
	}
}

func TestDaemonFlagReportsStartupFailure(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "a.pid")
	out, err := s.topo.Output(t.Context(), "a", s.bin, "--password", "x", "--device-path", filepath.Join(dir, "no-tun"),
		"--daemon", "--pid-file", pidFile)
	if err == nil {
		t.Fatalf("--daemon with a missing device succeeded: %s", out)
	}
	if !strings.Contains(err.Error(), "no-tun") {
		t.Errorf("the parent did not pass on the child's error: %v", err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Error("pid file written for a daemon that never started")
	}
}

func TestSIGHUPReloadsTrustedKeys(t *testing.T) {
	s := newSite(t)
	privA, pubA, _ := handshake.GenKey("sighup node a", true, nil)
	privB, pubB, _ := handshake.GenKey("sighup node b", true, nil)
	dir := t.TempDir()
	fileB := filepath.Join(dir, "b.net")
	writeB := func(body string) {
		t.Helper()
		if err := os.WriteFile(fileB, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good := func(trusted ...string) string {
		return fmt.Sprintf("listen: 3210\nip: %s/24\nport-forwarding: false\ncrypto:\n  private-key: %s\n  trusted-keys:\n    - %s\n",
			s.tunnel("b"), privB, strings.Join(trusted, "\n    - "))
	}
	writeB(good(pubB))
	s.start("b", "--config", fileB)
	s.start("a", "--ip", s.tunnel("a")+"/24", "-l", "3210", "-c", s.underlay("b")+":3210", "--no-port-forwarding",
		"--private-key", privA, "--trusted-key", pubA+","+pubB)
	s.waitLog("b", "vpn started", 15*time.Second)
	if _, err := s.waitPing("a", "b", 4*time.Second); err == nil {
		t.Fatal("b admitted a before trusting its key")
	}

	hup := func() {
		t.Helper()
		if err := s.procs["b"].Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	writeB(good(pubB, pubA))
	hup()
	s.waitLog("b", "reload: trusted keys: added "+pubA, 5*time.Second)
	s.mustPingBothWays(15 * time.Second)

	// A broken file is refused; b keeps running with what it has.
	writeB("crypto:\n  private-key: [unclosed\n")
	hup()
	s.waitLog("b", "configuration reload refused, keeping the running configuration", 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	if s.procs["b"].ProcessState != nil {
		t.Fatal("b exited on a broken config file")
	}
	s.mustPingBothWays(5 * time.Second)
	// An invalid value is refused as well.
	writeB(good(pubB, "not-a-key"))
	hup()
	s.waitLog("b", "trusted-keys", 5*time.Second)
	s.mustPingBothWays(5 * time.Second)
	// Revoking the key disconnects a.
	writeB(good(pubB))
	hup()
	s.waitLog("b", "disconnected 1 peer(s) whose key is no longer trusted", 5*time.Second)
}

// TestSystemdNotifications runs a node under a fake service manager: a
// NOTIFY_SOCKET the test listens on and a one-second watchdog.
func TestSystemdNotifications(t *testing.T) {
	s := newSite(t)
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "1000000")
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	expect := func(prefix string, timeout time.Duration) string {
		t.Helper()
		deadline := time.After(timeout)
		for {
			select {
			case m := <-msgs:
				if strings.HasPrefix(m, prefix) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %q notification within %v", prefix, timeout)
			}
		}
	}
	cfgFile := filepath.Join(t.TempDir(), "b.net")
	os.WriteFile(cfgFile, []byte("listen: 3210\nport-forwarding: false\ncrypto:\n  password: notify\nip: "+s.tunnel("b")+"/24\n"), 0o600)
	s.start("b", "--config", cfgFile)
	ready := expect("READY=1", 15*time.Second)
	if !strings.Contains(ready, "STATUS=running on pcb0") {
		t.Errorf("ready message %q lacks the status", ready)
	}
	expect("WATCHDOG=1", 2*time.Second)
	expect("WATCHDOG=1", 2*time.Second)
	s.procs["b"].Process.Signal(syscall.SIGHUP)
	expect("RELOADING=1\nMONOTONIC_USEC=", 5*time.Second)
	expect("READY=1", 5*time.Second)
	if err := s.stop("b"); err != nil {
		t.Fatal(err)
	}
	expect("STOPPING=1", 2*time.Second)
}
