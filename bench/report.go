package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Ratios compare one contender with the baseline: contender / baseline for
// each figure. For throughput and packet rate above 1 is better; for
// latency and memory below 1 is better. Zero means a figure is missing on
// either side.
type Ratios struct {
	TCPAtoB     float64 `json:"tcp_a_to_b"`
	TCPBtoA     float64 `json:"tcp_b_to_a"`
	TCPParallel float64 `json:"tcp_parallel"`
	UDPPPS      float64 `json:"udp_pps"`
	// UDPSustained compares the rates carried with at most 1 % loss.
	UDPSustained float64 `json:"udp_sustained_pps"`
	PingIdleAvg  float64 `json:"ping_idle_avg"`
	PingLoadAvg  float64 `json:"ping_load_avg"`
	PeakRSS      float64 `json:"peak_rss"` // larger of the two nodes
}

// ComputeRatios returns each result's ratios against the result named
// baseline. An empty baseline means no ratios (nil, nil).
func ComputeRatios(results []Result, baseline string) (map[string]Ratios, error) {
	if baseline == "" {
		return nil, nil
	}
	var base *Result
	for i := range results {
		if results[i].Contender == baseline {
			base = &results[i]
		}
	}
	if base == nil {
		names := make([]string, len(results))
		for i, r := range results {
			names[i] = r.Contender
		}
		return nil, fmt.Errorf("ComputeRatios: %w: baseline %q is not among the contenders (%s)", ErrConfig, baseline, strings.Join(names, ", "))
	}
	out := make(map[string]Ratios, len(results))
	for _, r := range results {
		out[r.Contender] = Ratios{
			TCPAtoB:      ratio(tcpMbps(r.TCPAtoB), tcpMbps(base.TCPAtoB)),
			TCPBtoA:      ratio(tcpMbps(r.TCPBtoA), tcpMbps(base.TCPBtoA)),
			TCPParallel:  ratio(tcpMbps(r.TCPParallel), tcpMbps(base.TCPParallel)),
			UDPPPS:       ratio(udpKpps(r.UDP64), udpKpps(base.UDP64)),
			UDPSustained: ratio(sustainedKpps(r.UDP64Sustained), sustainedKpps(base.UDP64Sustained)),
			PingIdleAvg:  ratio(pingAvg(r.PingIdle), pingAvg(base.PingIdle)),
			PingLoadAvg:  ratio(pingAvg(r.PingLoad), pingAvg(base.PingLoad)),
			PeakRSS:      ratio(float64(maxRSS(r)), float64(maxRSS(*base))),
		}
	}
	return out, nil
}

func ratio(v, base float64) float64 {
	if v <= 0 || base <= 0 || !finite(v) || !finite(base) {
		return 0
	}
	return v / base
}

func tcpMbps(t *TCPResult) float64 {
	if t == nil {
		return 0
	}
	return t.BitsPerSecond / 1e6
}

func udpKpps(u *UDPResult) float64 {
	if u == nil {
		return 0
	}
	return u.DeliveredPPS / 1e3
}

func sustainedKpps(u *SustainedUDP) float64 {
	if u == nil {
		return 0
	}
	return u.PPS / 1e3
}

func pingAvg(p *PingStats) float64 {
	if p == nil {
		return 0
	}
	return p.AvgMs
}

func maxRSS(r Result) int64 {
	var m int64
	for _, n := range r.Nodes {
		m = max(m, n.PeakRSSBytes)
	}
	return m
}

// Markdown renders the report as a table, one row per contender, each
// figure followed by its ratio to the baseline when one is set.
func Markdown(rep *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# peercloud-bench results\n\n")
	cc := ""
	if rep.Host.TCPCongestion != "" {
		cc = ", TCP congestion control " + rep.Host.TCPCongestion
	}
	fmt.Fprintf(&b, "%s, %d CPUs, kernel %s, %s%s; each test %.0f s, %d pings at 10 ms; load average before %s, after %s.\n\n",
		rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Host.CPUs, rep.Host.Kernel, rep.Host.Iperf3, cc,
		rep.Options.DurationSeconds, rep.Options.PingCount, loadShort(rep.Host.LoadBefore), loadShort(rep.Host.LoadAfter))
	if rep.Options.Rounds > 1 {
		fmt.Fprintf(&b, "Every contender was measured %d times, the order rotating each round; each figure is the median round's (results.json has every round).\n\n", rep.Options.Rounds)
	}
	if rep.Baseline != "" {
		fmt.Fprintf(&b, "Ratios (×) are against **%s**: above 1 is better for throughput and packet rate, below 1 is better for ping and memory.\n\n", rep.Baseline)
	}
	b.WriteString("| contender | version | MTU | TCP a→b Mbit/s | TCP b→a Mbit/s | TCP ×" + fmt.Sprint(rep.Options.Streams) + " Mbit/s | UDP 64 B kpps | UDP 64 B ≤1 % loss kpps | ping idle avg/p99 ms | ping loaded avg/p99 ms | peak RSS a/b MiB | CPU a/b s |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Results {
		ra, hasRatio := rep.Ratios[r.Contender]
		x := func(v float64) string {
			if !hasRatio || v == 0 {
				return ""
			}
			return fmt.Sprintf(" (%.2f×)", v)
		}
		cell := func(v float64, rt float64, format string) string {
			if v <= 0 {
				return "–"
			}
			return fmt.Sprintf(format, v) + x(rt)
		}
		ping := func(p *PingStats, rt float64) string {
			if p == nil {
				return "–"
			}
			return fmt.Sprintf("%.3f / %.3f", p.AvgMs, p.P99Ms) + x(rt)
		}
		a, bb := r.Nodes["a"], r.Nodes["b"]
		mtu := "–"
		if r.TunnelMTU > 0 {
			mtu = fmt.Sprint(r.TunnelMTU)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f / %.1f%s | %.2f / %.2f |\n",
			mdEscape(r.Contender), mdEscape(r.Version), mtu,
			cell(tcpMbps(r.TCPAtoB), ra.TCPAtoB, "%.0f"),
			cell(tcpMbps(r.TCPBtoA), ra.TCPBtoA, "%.0f"),
			cell(tcpMbps(r.TCPParallel), ra.TCPParallel, "%.0f"),
			cell(udpKpps(r.UDP64), ra.UDPPPS, "%.1f"),
			cell(sustainedKpps(r.UDP64Sustained), ra.UDPSustained, "%.1f"),
			ping(r.PingIdle, ra.PingIdleAvg), ping(r.PingLoad, ra.PingLoadAvg),
			float64(a.PeakRSSBytes)/(1<<20), float64(bb.PeakRSSBytes)/(1<<20), x(ra.PeakRSS),
			a.CPUSeconds, bb.CPUSeconds)
	}
	b.WriteString(roundRatioTable(rep))
	b.WriteString(targetTable(rep))
	b.WriteString(efficiencyTable(rep))
	b.WriteString(retransmitTable(rep))
	var errs []string
	for _, r := range rep.Results {
		for _, e := range r.Errors {
			errs = append(errs, fmt.Sprintf("- %s: %s", mdEscape(r.Contender), mdEscape(e)))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nFailures:\n\n" + strings.Join(errs, "\n") + "\n")
	}
	return b.String()
}

// efficiencyTable renders what the nodes' CPU bought, which the rates
// above hide on a small machine: the VPN shares the cores with both iperf3
// ends, and CPU a VPN saves goes to whoever is runnable, often the
// unthrottled UDP sender rather than the receiver that the rate counts.
// Per contender: the UDP sender's offered rate, the nodes' CPU time (a+b)
// per delivered 64-byte packet, and per gigabyte of the a→b TCP stream.
// Empty when no contender has the phase CPU times.
func efficiencyTable(rep *Report) string {
	var b strings.Builder
	for _, r := range rep.Results {
		a, bb := r.Nodes["a"], r.Nodes["b"]
		udpCPU := a.PhaseCPUSeconds["udp_64"] + bb.PhaseCPUSeconds["udp_64"]
		tcpCPU := a.PhaseCPUSeconds["tcp_a_to_b"] + bb.PhaseCPUSeconds["tcp_a_to_b"]
		if udpCPU <= 0 && tcpCPU <= 0 {
			continue
		}
		offered, perPkt, perGB := "–", "–", "–"
		if u := r.UDP64; u != nil && u.Seconds > 0 {
			offered = fmt.Sprintf("%.1f", float64(u.SentPackets)/u.Seconds/1e3)
			if delivered := u.DeliveredPPS * u.Seconds; udpCPU > 0 && delivered > 0 {
				perPkt = fmt.Sprintf("%.2f", udpCPU/delivered*1e6)
			}
		}
		if t := r.TCPAtoB; t != nil && tcpCPU > 0 && t.BitsPerSecond > 0 && t.Seconds > 0 {
			perGB = fmt.Sprintf("%.2f", tcpCPU/(t.BitsPerSecond*t.Seconds/8/1e9))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdEscape(r.Contender), offered, perPkt, perGB)
	}
	if b.Len() == 0 {
		return ""
	}
	return "\nCPU time of both nodes per unit delivered (lower is better; the rates above depend on how the cores are shared with iperf3):\n\n" +
		"| contender | UDP offered kpps | UDP CPU µs per delivered packet | TCP a→b CPU s per GB |\n|---|---:|---:|---:|\n" + b.String()
}

// retransmitTable renders the segments each TCP test's sender
// retransmitted, per second of the test: the price of a short standing
// queue. A VPN that drops instead of queueing (small socket buffers) shows
// a lower loaded ping and many retransmissions; one that queues shows the
// reverse. Empty when no contender has a timed TCP result.
func retransmitTable(rep *Report) string {
	var b strings.Builder
	for _, r := range rep.Results {
		timed := func(t *TCPResult) bool { return t != nil && t.Seconds > 0 }
		if !timed(r.TCPAtoB) && !timed(r.TCPBtoA) && !timed(r.TCPParallel) && !timed(r.LoadStream) {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdEscape(r.Contender),
			retransRate(r.TCPAtoB), retransRate(r.TCPBtoA), retransRate(r.TCPParallel), retransRate(r.LoadStream))
	}
	if b.Len() == 0 {
		return ""
	}
	return "\nTCP segments retransmitted per second (the sender's count; loss inside the tunnel path, e.g. full socket buffers):\n\n" +
		"| contender | TCP a→b | TCP b→a | TCP ×" + fmt.Sprint(rep.Options.Streams) + " | stream under the loaded ping |\n|---|---:|---:|---:|---:|\n" + b.String()
}

func retransRate(t *TCPResult) string {
	if t == nil || t.Seconds <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(t.Retransmits)/t.Seconds)
}

func loadShort(loadavg string) string {
	f := strings.Fields(loadavg)
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	if loadavg == "" {
		return "?"
	}
	return loadavg
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// Files names the outputs written by WriteFiles.
type Files struct{ JSON, Markdown, SVG string }

// WriteFiles writes results.json, results.md and results.svg to dir
// (created if missing) and returns their paths.
func WriteFiles(rep *Report, dir string) (Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("bench.WriteFiles: %w", err)
	}
	f := Files{JSON: filepath.Join(dir, "results.json"), Markdown: filepath.Join(dir, "results.md"), SVG: filepath.Join(dir, "results.svg")}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return Files{}, fmt.Errorf("bench.WriteFiles: json: %w", err)
	}
	for _, w := range []struct {
		path string
		data []byte
	}{{f.JSON, append(js, '\n')}, {f.Markdown, []byte(Markdown(rep))}, {f.SVG, []byte(SVG(rep))}} {
		if err := os.WriteFile(w.path, w.data, 0o644); err != nil {
			return Files{}, fmt.Errorf("bench.WriteFiles: %w", err)
		}
	}
	return f, nil
}

// RatioSpread is one figure's ratio to the baseline taken within each
// round, where both were measured minutes apart, over the rounds: the
// median (the lower middle one for an even count), the lowest and the
// highest, and how many rounds had the figure on both sides. On a noisy
// machine it is steadier than the ratio of the two medians, which may
// come from different rounds.
type RatioSpread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Rounds int     `json:"rounds"`
}

// ratioFigures names the figures of Ratios, as in its JSON, in the order
// of the report's columns.
var ratioFigures = []struct {
	name string
	get  func(Ratios) float64
}{
	{"tcp_a_to_b", func(r Ratios) float64 { return r.TCPAtoB }},
	{"tcp_b_to_a", func(r Ratios) float64 { return r.TCPBtoA }},
	{"tcp_parallel", func(r Ratios) float64 { return r.TCPParallel }},
	{"udp_pps", func(r Ratios) float64 { return r.UDPPPS }},
	{"udp_sustained_pps", func(r Ratios) float64 { return r.UDPSustained }},
	{"ping_idle_avg", func(r Ratios) float64 { return r.PingIdleAvg }},
	{"ping_load_avg", func(r Ratios) float64 { return r.PingLoadAvg }},
}

// ComputeRoundRatios returns, per contender other than the baseline and
// per figure (named as in Ratios' JSON), the spread of the ratios each
// round gives on its own. Nil without a baseline or with fewer than two
// rounds; a round without the baseline does not count.
func ComputeRoundRatios(rounds [][]Result, baseline string) map[string]map[string]RatioSpread {
	if baseline == "" || len(rounds) < 2 {
		return nil
	}
	per := map[string]map[string][]float64{}
	for _, round := range rounds {
		ratios, err := ComputeRatios(round, baseline)
		if err != nil {
			continue
		}
		for name, r := range ratios {
			if name == baseline {
				continue
			}
			if per[name] == nil {
				per[name] = map[string][]float64{}
			}
			for _, f := range ratioFigures {
				if v := f.get(r); v > 0 {
					per[name][f.name] = append(per[name][f.name], v)
				}
			}
		}
	}
	out := map[string]map[string]RatioSpread{}
	for name, figs := range per {
		out[name] = map[string]RatioSpread{}
		for fig, vs := range figs {
			sort.Float64s(vs)
			out[name][fig] = RatioSpread{Median: vs[(len(vs)-1)/2], Min: vs[0], Max: vs[len(vs)-1], Rounds: len(vs)}
		}
	}
	return out
}

// roundRatioTable renders ComputeRoundRatios' spreads, one row per
// contender: "median× (lowest–highest)". Empty when there are none.
func roundRatioTable(rep *Report) string {
	if len(rep.RoundRatios) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nRatios to **%s** round by round (each round's own ratio: the median round's, and the lowest–highest):\n\n", rep.Baseline)
	b.WriteString("| contender | TCP a→b | TCP b→a | TCP ×" + fmt.Sprint(rep.Options.Streams) + " | UDP 64 B | UDP 64 B ≤1 % loss | ping idle | ping loaded |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Results {
		figs, ok := rep.RoundRatios[r.Contender]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s", mdEscape(r.Contender))
		for _, f := range ratioFigures {
			s, ok := figs[f.name]
			if !ok {
				b.WriteString(" | –")
				continue
			}
			fmt.Fprintf(&b, " | %.2f× (%.2f–%.2f)", s.Median, s.Min, s.Max)
		}
		b.WriteString(" |\n")
	}
	return b.String()
}
