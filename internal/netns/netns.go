// Package netns builds throw-away network topologies for root-tier tests,
// the demo and the benchmark harness: named network namespaces joined by
// veth pairs or plugged into a bridge (one shared segment), commands run
// inside them, and a cleanup that removes everything it made, also after a
// failure.
//
// It drives the system's `ip` command (iproute2), so what it does can be
// repeated by hand from its log. Every name it creates carries the prefix
// given to New, so parallel topologies and stale leftovers never collide.
package netns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// Topology is a set of namespaces with a common name prefix.
// Safe for concurrent use.
type Topology struct {
	prefix string

	mu    sync.Mutex
	names []string
	procs []*exec.Cmd
}

// New returns an empty topology whose namespaces are named prefix+"-"+name.
// Stale namespaces with the same prefix (from an interrupted run) are
// removed first.
func New(prefix string) (*Topology, error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("netns: the ip command (iproute2) is missing: %w", err)
	}
	t := &Topology{prefix: prefix}
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
	return t, nil
}

// NS returns the full name of namespace name.
func (t *Topology) NS(name string) string { return t.prefix + "-" + name }

// Add creates namespace name with its loopback up.
func (t *Topology) Add(name string) error {
	ns := t.NS(name)
	if err := run("ip", "netns", "add", ns); err != nil {
		return err
	}
	t.mu.Lock()
	t.names = append(t.names, ns)
	t.mu.Unlock()
	return t.Exec(name, "ip", "link", "set", "lo", "up")
}

// Link joins namespaces a and b with a veth pair named ifA/ifB, gives them
// the addresses addrA and addrB (CIDR, may be empty) and brings them up.
func (t *Topology) Link(a, ifA, addrA, b, ifB, addrB string) error {
	tmpA, tmpB := t.prefix+"a"+ifA, t.prefix+"b"+ifB
	if len(tmpA) > 15 {
		tmpA = tmpA[:15]
	}
	if len(tmpB) > 15 {
		tmpB = tmpB[:15]
	}
	steps := [][]string{
		{"ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB},
		{"ip", "link", "set", tmpA, "netns", t.NS(a), "name", ifA},
		{"ip", "link", "set", tmpB, "netns", t.NS(b), "name", ifB},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	for _, e := range []struct{ ns, ifc, addr string }{{a, ifA, addrA}, {b, ifB, addrB}} {
		if e.addr != "" {
			if err := t.Exec(e.ns, "ip", "addr", "add", e.addr, "dev", e.ifc); err != nil {
				return err
			}
		}
		if err := t.Exec(e.ns, "ip", "link", "set", e.ifc, "up"); err != nil {
			return err
		}
	}
	return nil
}

// Bridge creates a Linux bridge named br in namespace sw and brings it up:
// an Ethernet switch that Attach plugs namespaces into. Spanning tree is
// off, so attached ports forward at once.
func (t *Topology) Bridge(sw, br string) error {
	if err := t.Exec(sw, "ip", "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"); err != nil {
		return err
	}
	return t.Exec(sw, "ip", "link", "set", br, "up")
}

// Attach plugs namespace name into the bridge br of namespace sw with a veth
// pair: end ifName in name gets the address addr (CIDR, may be empty), end
// port in sw becomes a port of br. Both ends are up. port must be unique in
// sw.
func (t *Topology) Attach(sw, br, port, name, ifName, addr string) error {
	if err := t.Link(sw, port, "", name, ifName, addr); err != nil {
		return err
	}
	return t.Exec(sw, "ip", "link", "set", port, "master", br)
}

// Exec runs a command in namespace name and waits for it; its output is part
// of the error on failure.
func (t *Topology) Exec(name string, args ...string) error {
	return run(append([]string{"ip", "netns", "exec", t.NS(name)}, args...)...)
}

// Output runs a command in namespace name and returns its standard output.
func (t *Topology) Output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", t.NS(name)}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("netns %s: %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Start starts a long-running command in namespace name with its output
// going to out (may be nil). Close kills it if it is still running; so
// does the kernel when this process dies first (a test binary killed at
// its timeout), as it is started with SIGKILL as its parent-death signal.
func (t *Topology) Start(name string, out *os.File, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", t.NS(name)}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netns %s: starting %s: %w", name, strings.Join(args, " "), err)
	}
	t.mu.Lock()
	t.procs = append(t.procs, cmd)
	t.mu.Unlock()
	return cmd, nil
}

// Close kills the processes still running and deletes every namespace (and
// with them their interfaces).
func (t *Topology) Close() error {
	t.mu.Lock()
	procs, names := t.procs, t.names
	t.procs, t.names = nil, nil
	t.mu.Unlock()
	for _, p := range procs {
		if p.ProcessState == nil && p.Process != nil {
			p.Process.Kill()
			p.Wait()
		}
	}
	var firstErr error
	for _, ns := range names {
		if err := run("ip", "netns", "del", ns); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
