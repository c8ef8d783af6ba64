package netns_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peercloud/peercloud/internal/netns"
	"github.com/peercloud/peercloud/internal/testenv"
)

// TestBridgeJoinsNamespaces plugs three namespaces into one bridge: every
// one reaches every other on the shared segment, and Close removes all the
// namespaces.
func TestBridgeJoinsNamespaces(t *testing.T) {
	testenv.RequireRoot(t)
	prefix := fmt.Sprintf("pcnsbr%d", os.Getpid()%1000)
	topo, err := netns.New(prefix)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			topo.Close()
		}
	})
	if err := topo.Add("sw"); err != nil {
		t.Fatal(err)
	}
	if err := topo.Bridge("sw", "br0"); err != nil {
		t.Fatal(err)
	}
	nodes := []string{"n0", "n1", "n2"}
	addr := func(i int) string { return fmt.Sprintf("10.219.7.%d", i+1) }
	for i, name := range nodes {
		if err := topo.Add(name); err != nil {
			t.Fatal(err)
		}
		if err := topo.Attach("sw", "br0", fmt.Sprintf("p%d", i), name, "eth0", addr(i)+"/24"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := topo.Output(ctx, "sw", "ip", "-o", "link", "show", "master", "br0")
	if err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		if !strings.Contains(out, fmt.Sprintf("p%d@", i)) {
			t.Errorf("port p%d is not a port of br0:\n%s", i, out)
		}
	}
	for i, from := range nodes {
		for j := range nodes {
			if i == j {
				continue
			}
			if out, err := topo.Output(ctx, from, "ping", "-c", "1", "-W", "2", addr(j)); err != nil {
				t.Errorf("%s cannot reach %s over the bridge: %v\n%s", from, addr(j), err, out)
			}
		}
	}
	// The switch namespace has no address on the segment: the nodes talk
	// through the bridge, not to it.
	if out, err := topo.Output(ctx, "sw", "ip", "-4", "-o", "addr", "show", "dev", "br0"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("br0 has addresses or cannot be shown: %v %q", err, out)
	}

	closed = true
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(list), prefix+"-") {
		t.Fatalf("namespaces left after Close:\n%s", list)
	}
}

// TestStartedProcessDiesWithTheStarter: a process started in a namespace
// does not outlive the process that started it, even when that one exits
// without Close (a test binary killed at its timeout).
func TestStartedProcessDiesWithTheStarter(t *testing.T) {
	testenv.RequireRoot(t)
	if prefix := os.Getenv("PCNETNS_STARTER"); prefix != "" {
		// The starter: this test binary run again by the test below.
		topo, err := netns.New(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if err := topo.Add("a"); err != nil {
			t.Fatal(err)
		}
		cmd, err := topo.Start("a", nil, "sleep", "60")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("pid %d\n", cmd.Process.Pid)
		os.Exit(0) // no Close, no cleanup
	}
	prefix := fmt.Sprintf("pcnsdie%d", os.Getpid()%1000)
	defer exec.Command("ip", "netns", "del", prefix+"-a").Run()
	starter := exec.Command(os.Args[0], "-test.run=^TestStartedProcessDiesWithTheStarter$")
	starter.Env = append(os.Environ(), "PCNETNS_STARTER="+prefix)
	out, err := starter.Output()
	if err != nil {
		t.Fatalf("starter: %v: %s", err, out)
	}
	var pid int
	if _, err := fmt.Sscanf(string(out), "pid %d", &pid); err != nil || pid <= 0 {
		t.Fatalf("starter printed %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !strings.Contains(string(cmdline), "sleep") {
			break // gone, and the pid reused (or a zombie's empty cmdline)
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the process started in the namespace (pid %d) outlived its starter", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
