package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// SustainedMaxLossPercent is the loss a probe of the sustained UDP rate
// may show and still pass.
const SustainedMaxLossPercent = 1.0

// sustainedSocketBuffer is the iperf3 socket buffer (-w, both ends) of the
// probes: ~40 ms of packets at 100 kpps, so a receiver that waits a few
// milliseconds for a core (the scheduler's slice) does not lose them. With
// the kernel's default 208 KiB it loses at ~100 kpps through any tunnel,
// which measures the scheduler, not the tunnel. The kernel caps it at
// net.core.rmem_max.
const sustainedSocketBuffer = "4M"

// SustainedUDP is the highest 64-byte UDP packet rate that crossed the
// tunnel with at most MaxLossPercent lost, found by bisecting the offered
// rate. The unthrottled test (UDP64) measures something else on a small
// machine: its sender never waits, so it takes whatever CPU the tunnel
// leaves and the receiver, starved, drops; this figure asks how much the
// tunnel carries when the sender offers no more than that.
type SustainedUDP struct {
	// PPS is the delivered rate of the best passing probe; 0 when none
	// passed.
	PPS            float64    `json:"pps"`
	MaxLossPercent float64    `json:"max_loss_percent"`
	ProbeSeconds   int        `json:"probe_seconds"`
	Probes         []UDPProbe `json:"probes"`
}

// UDPProbe is one rate the search tried.
type UDPProbe struct {
	OfferedPPS float64   `json:"offered_pps"` // what iperf3 was asked to send
	Result     UDPResult `json:"result"`
	Pass       bool      `json:"pass"`
}

// searchSustained bisects the offered rate between 0 and hi packets per
// second, starting at start, over at most steps rates (fewer when the
// interval is within 2 % of its top; a rate may be probed twice, below). A probe passes when its loss is at
// most maxLoss percent and the sender achieved at least 95 % of the
// offered rate (else the sender, not the tunnel, was the limit there and
// the probe fails without passing judgement on higher rates: they are
// skipped as well). A probe that fails by little (the sender on rate,
// loss at most 3 × maxLoss) is run once more at the same rate and the
// second verdict counts: one scheduling hiccup of a busy machine should
// not decide the search. A probe that errors ends the search with the
// error and what was found so far.
func searchSustained(ctx context.Context, start, hi float64, steps int, maxLoss float64, probe func(pps float64) (UDPResult, error)) (SustainedUDP, error) {
	res := SustainedUDP{MaxLossPercent: maxLoss}
	if hi <= 0 || steps <= 0 {
		return res, fmt.Errorf("searchSustained: %w: upper bound %.0f pps, %d steps", ErrConfig, hi, steps)
	}
	lo := 0.0
	rate := start
	if rate <= 0 || rate > hi {
		rate = hi / 2
	}
	try := func(rate float64) (UDPProbe, bool, error) {
		u, err := probe(rate)
		if err != nil {
			return UDPProbe{}, false, err
		}
		sent := 0.0
		if u.Seconds > 0 {
			sent = float64(u.SentPackets) / u.Seconds
		}
		onRate := sent >= 0.95*rate
		p := UDPProbe{OfferedPPS: rate, Result: u, Pass: u.LostPercent <= maxLoss && onRate}
		res.Probes = append(res.Probes, p)
		return p, onRate && u.LostPercent <= 3*maxLoss, nil
	}
	for i := 0; i < steps && ctx.Err() == nil; i++ {
		p, marginal, err := try(rate)
		if err == nil && !p.Pass && marginal && ctx.Err() == nil {
			p, _, err = try(rate)
		}
		if err != nil {
			return res, err
		}
		u := p.Result
		if p.Pass {
			lo = rate
			res.PPS = max(res.PPS, u.DeliveredPPS)
		} else {
			hi = rate
		}
		if hi-lo <= 0.02*hi {
			break
		}
		rate = (lo + hi) / 2
	}
	return res, ctx.Err()
}

// udpSustained runs the search through the tunnel of s with iperf3 probes
// of half the test duration (at least 1 s), up to the rate the
// unthrottled test offered and starting at the rate it delivered.
func (r *Runner) udpSustained(ctx context.Context, s *site, full *UDPResult) (*SustainedUDP, error) {
	if full == nil || full.Seconds <= 0 || full.SentPackets <= 0 {
		return nil, fmt.Errorf("udp_64_sustained: %w: needs the unthrottled UDP test's rates", ErrConfig)
	}
	secs := max(1, int(r.opts.Duration/2/time.Second))
	steps := 6
	if r.opts.Duration < 2*time.Second { // smoke runs
		steps = 3
	}
	hi := float64(full.SentPackets) / full.Seconds
	res, err := searchSustained(ctx, full.DeliveredPPS, hi, steps, SustainedMaxLossPercent, func(pps float64) (UDPResult, error) {
		bits := strconv.FormatFloat(pps*64*8, 'f', 0, 64) // iperf3 counts payload bits
		d := time.Duration(secs) * time.Second
		out, err := r.iperf(ctx, s, d, "-t", strconv.Itoa(secs), "-u", "-b", bits, "-l", "64", "-w", sustainedSocketBuffer)
		if err != nil {
			return UDPResult{}, err
		}
		return ParseIperfUDP(out)
	})
	res.ProbeSeconds = secs
	return &res, err
}
