package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

const iperfPort = "5201"

// measure runs every measurement through the tunnel of s, a client in a
// and the iperf3 server in b, recording results and failures in res, then
// samples the nodes' peak RSS and CPU time.
func (r *Runner) measure(ctx context.Context, s *site, nodes map[string]*proc, res *Result, fail func(string, error)) {
	phaseCPU := map[string]map[string]float64{"a": {}, "b": {}}
	phase := func(name string, f func() error) {
		if ctx.Err() != nil {
			return
		}
		before := map[string]float64{}
		for n, p := range nodes {
			if _, cpu, err := p.sample(); err == nil {
				before[n] = cpu
			}
		}
		if err := f(); err != nil {
			fail(name, err)
		}
		for n, p := range nodes {
			if _, cpu, err := p.sample(); err == nil {
				phaseCPU[n][name] = cpu - before[n]
			}
		}
	}

	srv, err := s.start("b", "iperf3-server", nil, "iperf3", "-s", "-B", overlayB, "-p", iperfPort)
	if err != nil {
		fail("iperf3 server", err)
	} else if err := r.waitListening(ctx, s, srv); err != nil {
		fail("iperf3 server", err)
		srv.stop(time.Second)
		srv = nil
	} else {
		defer srv.stop(time.Second)
		secs := strconv.Itoa(int(max(1, r.opts.Duration.Round(time.Second)/time.Second)))
		tcp := func(dst **TCPResult, extra ...string) func() error {
			return func() error {
				out, err := r.iperf(ctx, s, r.opts.Duration, append([]string{"-t", secs}, extra...)...)
				if err != nil {
					return err
				}
				t, err := ParseIperfTCP(out)
				if err != nil {
					return err
				}
				*dst = &t
				return nil
			}
		}
		phase("tcp_a_to_b", tcp(&res.TCPAtoB))
		phase("tcp_b_to_a", tcp(&res.TCPBtoA, "-R"))
		phase("tcp_parallel", tcp(&res.TCPParallel, "-P", strconv.Itoa(r.opts.Streams)))
		phase("udp_64", func() error {
			out, err := r.iperf(ctx, s, r.opts.Duration, "-t", secs, "-u", "-b", "0", "-l", "64")
			if err != nil {
				return err
			}
			u, err := ParseIperfUDP(out)
			if err != nil {
				return err
			}
			res.UDP64 = &u
			return nil
		})
		if res.UDP64 != nil {
			phase("udp_64_sustained", func() error {
				u, err := r.udpSustained(ctx, s, res.UDP64)
				if u != nil && len(u.Probes) > 0 {
					res.UDP64Sustained = u
				}
				return err
			})
		}
	}
	phase("ping_idle", func() error {
		p, err := r.ping(ctx, s)
		if err == nil {
			res.PingIdle = &p
		}
		return err
	})
	if srv != nil {
		phase("ping_load", func() error { return r.pingUnderLoad(ctx, s, res) })
	}

	for n, p := range nodes {
		rss, cpu, err := p.sample()
		if err != nil {
			fail("sample", err)
			continue
		}
		res.Nodes[n] = NodeStats{PID: p.pid(), PeakRSSBytes: rss, CPUSeconds: cpu, PhaseCPUSeconds: phaseCPU[n]}
	}
}

// waitListening waits until the iperf3 server listens in namespace b.
func (r *Runner) waitListening(ctx context.Context, s *site, srv *proc) error {
	err := retry(ctx, 10*time.Second, func() error {
		if srv.exited() {
			return fmt.Errorf("exited: %v: %s", srv.err, s.logTail(srv.name))
		}
		out, err := s.topo.Output(ctx, "b", "ss", "-Hltn", "sport = :"+iperfPort)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "LISTEN") {
			return fmt.Errorf("not listening on port %s after 10 s: %s", iperfPort, s.logTail(srv.name))
		}
		return nil
	})
	if err != nil && srv.exited() {
		return fmt.Errorf("exited: %v: %s", srv.err, s.logTail(srv.name))
	}
	return err
}

// pingUnderLoad pings while one TCP stream from a to b saturates the
// tunnel; the stream starts a second before the pings and ends after them.
func (r *Runner) pingUnderLoad(ctx context.Context, s *site, res *Result) error {
	pingTime := time.Duration(r.opts.PingCount)*10*time.Millisecond + 2*time.Second
	loadTime := pingTime + 2*time.Second
	var wg sync.WaitGroup
	var loadOut []byte
	var loadErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		loadOut, loadErr = r.iperf(ctx, s, loadTime, "-t", strconv.Itoa(int(loadTime.Round(time.Second)/time.Second)))
	}()
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	p, pingErr := r.ping(ctx, s)
	wg.Wait()
	if pingErr != nil {
		return pingErr
	}
	res.PingLoad = &p
	if loadErr != nil {
		return fmt.Errorf("load stream: %w", loadErr)
	}
	t, err := ParseIperfTCP(loadOut)
	if err != nil {
		return fmt.Errorf("load stream: %w", err)
	}
	res.LoadStream = &t
	return nil
}

// iperf runs an iperf3 client in a against the server in b and returns its
// JSON. The server may still be busy with the previous test, so a failed
// attempt is retried.
func (r *Runner) iperf(ctx context.Context, s *site, d time.Duration, args ...string) ([]byte, error) {
	full := append([]string{"iperf3", "-c", overlayB, "-p", iperfPort, "-J", "--connect-timeout", "3000"}, args...)
	var out string
	var err error
	for try := 1; ; try++ {
		began := time.Now()
		cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
		out, err = s.topo.Output(cctx, "a", full...)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		// A quick failure (refused, server busy) is retried for about 10 s;
		// a test that ran and then failed only once more.
		if quick := time.Since(began) < 3*time.Second; (quick && try >= 20) || (!quick && try >= 2) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err != nil {
		// iperf3 -J prints its error as JSON on stdout; prefer that message.
		if _, perr := ParseIperfTCP([]byte(out)); perr != nil && len(out) > 0 {
			return nil, fmt.Errorf("iperf3 %v: %w", args, perr)
		}
		return nil, fmt.Errorf("iperf3 %v: %w", args, err)
	}
	return []byte(out), nil
}

// ping sends PingCount pings at 10 ms intervals from a to b.
func (r *Runner) ping(ctx context.Context, s *site) (PingStats, error) {
	timeout := time.Duration(r.opts.PingCount)*10*time.Millisecond + 10*time.Second
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := s.topo.Output(cctx, "a", "ping", "-c", strconv.Itoa(r.opts.PingCount), "-i", "0.01", "-W", "1", overlayB)
	st, perr := ParsePing(out) // ping exits 1 when a reply was lost; its figures still count
	if perr != nil {
		if err != nil {
			return PingStats{}, fmt.Errorf("ping: %w (%v)", perr, err)
		}
		return PingStats{}, fmt.Errorf("ping: %w", perr)
	}
	return st, nil
}
