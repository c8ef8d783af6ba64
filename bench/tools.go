package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// tool is a program the harness runs and the Debian package that has it.
type tool struct{ name, pkg string }

var baseTools = []tool{{"ip", "iproute2"}, {"ping", "iputils-ping"}, {"iperf3", "iperf3"}}

// CheckTools reports the first missing program needed to run contenders:
// ip, ping and iperf3 always, and each contender's binary and setup tool.
// The error wraps ErrMissingTool and names the apt-get command to run.
func CheckTools(contenders []Contender) error {
	for _, t := range baseTools {
		if _, err := exec.LookPath(t.name); err != nil {
			return fmt.Errorf("%w: %s is not installed; run: apt-get install -y %s", ErrMissingTool, t.name, t.pkg)
		}
	}
	for _, c := range contenders {
		if err := executable(c.Bin); err != nil {
			return fmt.Errorf("%w: %s binary %q: %v", ErrMissingTool, c.Name, c.Bin, err)
		}
		switch c.Kind {
		case KindWireguardGo:
			if err := executable(c.Helper); err != nil {
				return fmt.Errorf("%w: wireguard-go needs the wg tool (%q: %v); run: apt-get install -y wireguard-tools", ErrMissingTool, c.Helper, err)
			}
		case KindNebula:
			if err := executable(c.Helper); err != nil {
				return fmt.Errorf("%w: nebula needs nebula-cert (%q: %v); run: apt-get install -y nebula", ErrMissingTool, c.Helper, err)
			}
		}
	}
	return nil
}

func executable(path string) error {
	if path == "" {
		return fmt.Errorf("no path given")
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("not an executable file")
	}
	return nil
}

// CheckRoot returns ErrNotRoot unless the process runs as root.
func CheckRoot() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: network namespaces and TUN devices need root; run it with sudo", ErrNotRoot)
	}
	return nil
}

// versionOf runs the binary's version flag and returns the first line it
// prints, best effort ("" when it prints nothing useful).
func versionOf(ctx context.Context, c Contender) string {
	flag := "--version"
	if c.Kind == KindNebula {
		flag = "-version"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, c.Bin, flag).CombinedOutput()
	return cleanVersion(c.Kind, string(out))
}

// cleanVersion makes a short version label from a --version output's first
// line: "Version: 1.6.1" becomes "nebula 1.6.1", a parenthesised remark
// goes.
func cleanVersion(k Kind, out string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	// "Version:" first, so that a source build's "Version: (devel)" keeps
	// its "(devel)".
	line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "Version:"))
	line, _, _ = strings.Cut(line, " (")
	if line != "" && !strings.Contains(strings.ToLower(line), string(k)) {
		line = string(k) + " " + line
	}
	if len(line) > 60 {
		line = line[:60]
	}
	return line
}
