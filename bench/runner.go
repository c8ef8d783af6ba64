package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/internal/netns"
)

// Runner measures contenders one after the other, each in its own fresh
// topology. A Runner is not safe for concurrent use: namespaces of one run
// share names. Cancelling the context passed to Run stops the current
// contender's processes and removes its namespaces before Run returns.
type Runner struct {
	opts Options
	log  *zap.Logger
}

// NewRunner returns a Runner with opts (zero fields take their defaults)
// that logs to log (nil means no logging).
func NewRunner(opts Options, log *zap.Logger) *Runner {
	if log == nil {
		log = zap.NewNop()
	}
	return &Runner{opts: opts.withDefaults(), log: log}
}

// Run checks root and the tools, measures each contender and returns the
// report with ratios against baseline (a contender's Name, or "" for
// none). A contender that fails is recorded with its errors and the run
// goes on; Run fails only on bad settings, missing tools or cancellation.
func (r *Runner) Run(ctx context.Context, contenders []Contender, baseline string) (*Report, error) {
	if err := validate(contenders); err != nil {
		return nil, fmt.Errorf("bench.Run: %w", err)
	}
	if baseline != "" {
		found := false
		for _, c := range contenders {
			found = found || c.Name == baseline
		}
		if !found {
			return nil, fmt.Errorf("bench.Run: %w: baseline %q is not among the contenders", ErrConfig, baseline)
		}
	}
	if err := CheckRoot(); err != nil {
		return nil, fmt.Errorf("bench.Run: %w", err)
	}
	if err := CheckTools(contenders); err != nil {
		return nil, fmt.Errorf("bench.Run: %w", err)
	}
	if cc := r.opts.Congestion; cc != "" && !ValidCongestion(cc) {
		return nil, fmt.Errorf("bench.Run: %w: %q is not a congestion control name", ErrConfig, cc)
	}
	rep := &Report{Started: time.Now(), Baseline: baseline, Host: hostInfo()}
	if r.opts.Congestion != "" {
		rep.Host.TCPCongestion = r.opts.Congestion
	}
	rep.Options.DurationSeconds = r.opts.Duration.Seconds()
	rep.Options.Streams = r.opts.Streams
	rep.Options.PingCount = r.opts.PingCount
	rep.Options.Rounds = r.opts.Rounds
	for round := 0; round < r.opts.Rounds; round++ {
		var results []Result
		for i := range contenders {
			// Each round starts one contender later, so that no contender
			// always runs first (fresh caches, a cooler machine) or last.
			c := contenders[(i+round)%len(contenders)]
			if err := ctx.Err(); err != nil {
				// Interrupted: the rounds done so far, else what this
				// round measured.
				if rep.Results = results; len(rep.Rounds) > 0 {
					rep.Results = MergeRounds(rep.Rounds)
				}
				return rep, fmt.Errorf("bench.Run: %w", err)
			}
			r.log.Info("measuring", zap.String("contender", c.Name), zap.Int("round", round+1))
			res := r.RunContender(ctx, c)
			results = append(results, res)
			r.log.Info("measured", zap.String("contender", c.Name), zap.Float64("tcp_a_to_b_mbps", tcpMbps(res.TCPAtoB)),
				zap.Float64("tcp_b_to_a_mbps", tcpMbps(res.TCPBtoA)), zap.Float64("udp_kpps", udpKpps(res.UDP64)), zap.Float64("udp_sustained_kpps", sustainedKpps(res.UDP64Sustained)), zap.Strings("errors", res.Errors))
		}
		rep.Rounds = append(rep.Rounds, inOrder(results, contenders))
	}
	if len(rep.Rounds) == 1 {
		rep.Results, rep.Rounds = rep.Rounds[0], nil
	} else {
		rep.Results = MergeRounds(rep.Rounds)
	}
	rep.Finished = time.Now()
	rep.Host.LoadAfter = loadavg()
	ratios, err := ComputeRatios(rep.Results, baseline)
	if err != nil {
		return rep, fmt.Errorf("bench.Run: %w", err)
	}
	rep.Ratios = ratios
	rep.RoundRatios = ComputeRoundRatios(rep.Rounds, baseline)
	rounds := rep.Rounds
	if rounds == nil { // one round
		rounds = [][]Result{rep.Results}
	}
	rep.Targets = ComputeTargets(rounds)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("bench.Run: %w", err)
	}
	return rep, nil
}

// RunContender builds the topology, starts c's two nodes, measures and
// tears everything down again (also when ctx is cancelled). Failures are
// recorded in the result's Errors.
func (r *Runner) RunContender(ctx context.Context, c Contender) Result {
	res := Result{Contender: c.Name, Kind: c.Kind, Cipher: c.Cipher, Version: versionOf(ctx, c), Nodes: map[string]NodeStats{}}
	fail := func(what string, err error) {
		r.log.Warn("measurement failed", zap.String("contender", c.Name), zap.String("what", what), zap.Error(err))
		res.Errors = append(res.Errors, what+": "+err.Error())
	}
	dir, err := os.MkdirTemp("", "peercloud-bench-"+c.Name+"-")
	if err != nil {
		fail("setup", err)
		return res
	}
	defer os.RemoveAll(dir)

	topo, err := r.topology()
	if err != nil {
		fail("topology", err)
		return res
	}
	defer func() {
		if err := topo.Close(); err != nil {
			fail("cleanup", err)
		}
	}()
	s := &site{topo: topo, dir: dir}
	started := time.Now()
	nodes, err := startNodes(ctx, s, c)
	if err != nil {
		fail("start", err)
		r.attachLogs(&res, dir)
		return res
	}
	defer func() {
		for _, p := range nodes {
			p.stop(5 * time.Second)
		}
	}()
	if err := r.waitTunnel(ctx, s, nodes); err != nil {
		fail("tunnel", err)
		r.attachLogs(&res, dir)
		return res
	}
	res.TunnelUpSeconds = time.Since(started).Seconds()
	res.TunnelMTU = tunnelMTU(ctx, s, devName(c.Kind, "a"))

	r.measure(ctx, s, nodes, &res, fail)
	return res
}

// topology makes namespaces a and b joined by veth0 (MTU 1500), each with a
// default route to a gateway that does not exist (VpnCloud finds its own
// address through it) and a blackhole for the overlay range, so a tunnel
// that is down is never bypassed over the underlay.
func (r *Runner) topology() (*netns.Topology, error) {
	topo, err := netns.New(r.opts.Prefix)
	if err != nil {
		return nil, err
	}
	steps := func() error {
		for _, name := range []string{"a", "b"} {
			if err := topo.Add(name); err != nil {
				return err
			}
		}
		if err := topo.Link("a", "veth0", underlayA+"/24", "b", "veth0", underlayB+"/24"); err != nil {
			return err
		}
		for _, name := range []string{"a", "b"} {
			for _, step := range [][]string{
				{"ip", "link", "set", "veth0", "mtu", "1500"},
				{"ip", "route", "add", "default", "via", "10.241.0.254"},
				{"ip", "route", "add", "blackhole", overlayNet, "metric", "4000"},
			} {
				if err := topo.Exec(name, step...); err != nil {
					return err
				}
			}
			if cc := r.opts.Congestion; cc != "" {
				// Per namespace; the kernel loads the module if it can.
				if err := topo.Exec(name, "sh", "-c", `echo "$0" > /proc/sys/net/ipv4/tcp_congestion_control`, cc); err != nil {
					return fmt.Errorf("TCP congestion control %q (namespaces may use: %s; root allows more in the host's net.ipv4.tcp_allowed_congestion_control): %w",
						cc, allowedCongestion(), err)
				}
			}
		}
		return nil
	}
	if err := steps(); err != nil {
		topo.Close()
		return nil, fmt.Errorf("topology: %w", err)
	}
	return topo, nil
}

// waitTunnel pings each way until a reply comes or the timeout passes.
func (r *Runner) waitTunnel(ctx context.Context, s *site, nodes map[string]*proc) error {
	deadline := time.Now().Add(r.opts.TunnelTimeout)
	for _, from := range []string{"a", "b"} {
		for {
			for name, p := range nodes {
				if p.exited() {
					return fmt.Errorf("%w: node %s exited: %v", ErrTunnelDown, name, p.err)
				}
			}
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := s.topo.Output(pctx, from, "ping", "-c", "1", "-W", "1", overlay[other[from]])
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: no ping reply from %s to %s within %v", ErrTunnelDown, from, other[from], r.opts.TunnelTimeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// attachLogs adds the tail of each node's log to the result's errors.
func (r *Runner) attachLogs(res *Result, dir string) {
	for _, name := range []string{"a", "b"} {
		b, err := os.ReadFile(dir + "/" + name + ".log")
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 1500 {
			b = b[len(b)-1500:]
		}
		res.Errors = append(res.Errors, "log of node "+name+": "+strings.TrimSpace(string(b)))
	}
}

// tunnelMTU returns the MTU of dev in namespace a (0 if unknown).
func tunnelMTU(ctx context.Context, s *site, dev string) int {
	out, err := s.topo.Output(ctx, "a", "ip", "-o", "link", "show", "dev", dev)
	if err != nil {
		return 0
	}
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "mtu" {
			n, _ := strconv.Atoi(f[i+1])
			return n
		}
	}
	return 0
}

// allowedCongestion lists the congestion controls a namespace other than
// the host's may choose.
func allowedCongestion() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_allowed_congestion_control")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func hostInfo() Host {
	h := Host{CPUs: runtime.NumCPU(), LoadBefore: loadavg(), GoarchGoos: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	// New namespaces start with the host's congestion control, which
	// decides how long the standing queue under load gets.
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control"); err == nil {
		h.TCPCongestion = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("iperf3", "--version").Output(); err == nil {
		h.Iperf3, _, _ = strings.Cut(strings.TrimSpace(string(out)), " (")
	}
	return h
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}
