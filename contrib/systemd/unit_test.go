// Package systemd_test checks the systemd units in this directory: the keys
// the daemon relies on and the hardening, with systemd-analyze verify when
// it is installed, and contrib/install.sh into a staging directory.
package systemd_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unit is a parsed unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Errorf("[%s] %s: %d values %q, want exactly one", section, key, len(v), v)
		return ""
	}
	return v[0]
}

func TestServiceUnit(t *testing.T) {
	u := parseUnit(t, "peercloud@.service")
	want := map[string]string{
		"Type":                   "notify",
		"NotifyAccess":           "main",
		"ExecReload":             "/bin/kill -HUP $MAINPID",
		"Restart":                "on-failure",
		"RuntimeDirectory":       "peercloud",
		"NoNewPrivileges":        "yes",
		"ProtectSystem":          "strict",
		"ProtectHome":            "yes",
		"PrivateTmp":             "yes",
		"DevicePolicy":           "closed",
		"DeviceAllow":            "/dev/net/tun rw",
		"RestrictSUIDSGID":       "yes",
		"RestrictNamespaces":     "yes",
		"MemoryDenyWriteExecute": "yes",
	}
	for k, v := range want {
		if got := u.one(t, "Service", k); got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	exec := u.one(t, "Service", "ExecStart")
	if !strings.Contains(exec, "--config /etc/peercloud/%i.net") || strings.Contains(exec, "--daemon") {
		t.Errorf("ExecStart=%q: want the instance's .net file and no --daemon (Type=notify)", exec)
	}
	if u.one(t, "Service", "WatchdogSec") == "" {
		t.Error("no WatchdogSec")
	}
	for _, k := range []string{"MemoryMax", "TasksMax", "SystemCallFilter"} {
		if len(u["Service"][k]) == 0 {
			t.Errorf("no %s", k)
		}
	}
	caps := strings.Fields(u.one(t, "Service", "CapabilityBoundingSet"))
	allowed := []string{"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_BPF"}
	if !slices.Contains(caps, "CAP_NET_ADMIN") {
		t.Error("CapabilityBoundingSet lacks CAP_NET_ADMIN")
	}
	for _, c := range caps {
		if !slices.Contains(allowed, c) {
			t.Errorf("CapabilityBoundingSet has %s, more than peercloud needs", c)
		}
	}
	fams := strings.Fields(u.one(t, "Service", "RestrictAddressFamilies"))
	slices.Sort(fams)
	if !slices.Equal(fams, []string{"AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"}) {
		t.Errorf("RestrictAddressFamilies=%v", fams)
	}
	if got := u.one(t, "Unit", "PartOf"); got != "peercloud.target" {
		t.Errorf("PartOf=%q", got)
	}
	if wb := strings.Fields(u.one(t, "Install", "WantedBy")); !slices.Contains(wb, "multi-user.target") || !slices.Contains(wb, "peercloud.target") {
		t.Errorf("WantedBy=%v", wb)
	}
	tgt := parseUnit(t, "peercloud.target")
	if tgt.one(t, "Install", "WantedBy") != "multi-user.target" || tgt.one(t, "Unit", "Description") == "" {
		t.Errorf("peercloud.target: %v", tgt)
	}
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: only the Go checks of the unit ran")
		return
	}
	dir := t.TempDir()
	for _, name := range []string{"peercloud@.service", "peercloud.target"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// verify checks that ExecStart's binary exists; the unit is what is
		// tested here, so stand in for the binary.
		b = []byte(strings.ReplaceAll(string(b), "/usr/bin/peercloud", "/bin/true"))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(sa, "verify", "--man=no", "./peercloud@example.service", "./peercloud.target")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestInstallScript(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go is needed to build the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "peercloud")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/peercloud/peercloud/cmd/peercloud").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	root := filepath.Join(dir, "root")
	cmd := exec.Command("sh", "../install.sh")
	cmd.Env = append(os.Environ(), "BINARY="+bin, "DESTDIR="+root, "PREFIX=/usr/local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	for _, p := range []string{
		"usr/local/bin/peercloud", "usr/local/lib/systemd/system/peercloud@.service", "usr/local/lib/systemd/system/peercloud.target",
		"usr/local/share/man/man1/peercloud.1.gz", "usr/local/share/bash-completion/completions/peercloud",
		"usr/local/share/zsh/vendor-completions/_peercloud", "usr/local/share/fish/vendor_completions.d/peercloud.fish", "etc/peercloud",
	} {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || (fi.Size() == 0 && !fi.IsDir()) {
			t.Errorf("%s not installed: %v", p, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(root, "usr/local/lib/systemd/system/peercloud@.service"))
	if !strings.Contains(string(b), "ExecStart=/usr/local/bin/peercloud --config") {
		t.Error("the installed unit does not point at the installed binary")
	}
}
