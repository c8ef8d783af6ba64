package bench

import (
	"fmt"
	"sort"
	"strings"
)

// The performance targets peercloud is held to (issue 5; bench/README.md),
// checked by every run in which both sides of a comparison ran: each
// round's own ratio, so two figures measured minutes apart are compared,
// never medians from different rounds.
var targets = []struct {
	name   string
	fig    string // as in Ratios' JSON (ratioFigures); "peak_rss" is absolute
	ref    Kind   // the contender compared with; "" for an absolute bound
	bound  float64
	atMost bool // the figure must stay at or below bound (ping, memory)
}{
	{"TCP a→b ≥ 1.25× Nebula", "tcp_a_to_b", KindNebula, 1.25, false},
	{"TCP b→a ≥ 1.25× Nebula", "tcp_b_to_a", KindNebula, 1.25, false},
	{"TCP a→b ≥ 2× wireguard-go", "tcp_a_to_b", KindWireguardGo, 2, false},
	{"TCP b→a ≥ 2× wireguard-go", "tcp_b_to_a", KindWireguardGo, 2, false},
	{"UDP 64 B ≥ 1.25× Nebula", "udp_pps", KindNebula, 1.25, false},
	{"ping idle ≤ VpnCloud's", "ping_idle_avg", KindVpncloud, 1, true},
	{"ping loaded ≤ Nebula's", "ping_load_avg", KindNebula, 1, true},
	{"peak RSS ≤ 32 MiB", "peak_rss", "", 32, true},
}

// TargetResult is one target checked for one peercloud contender: Spread
// holds each round's own ratio to Reference (for an absolute bound, each
// round's value: the larger node's peak RSS in MiB); Met is whether the
// median round meets the bound, EveryRound whether all of them do.
type TargetResult struct {
	Contender  string      `json:"contender"`
	Target     string      `json:"target"`
	Reference  string      `json:"reference,omitempty"`
	Spread     RatioSpread `json:"spread"`
	Met        bool        `json:"met"`
	EveryRound bool        `json:"every_round"`
}

// ComputeTargets checks the targets for every peercloud contender in
// rounds (a single run is one round). The VpnCloud compared with is the
// one with the same cipher. A target whose reference did not run, or
// whose figure is missing in every round, is left out.
func ComputeTargets(rounds [][]Result) []TargetResult {
	var out []TargetResult
	if len(rounds) == 0 {
		return nil
	}
	for _, pc := range rounds[0] {
		if pc.Kind != KindPeercloud {
			continue
		}
		for _, tg := range targets {
			var vals []float64
			ref := ""
			for _, round := range rounds {
				me := find(round, func(r *Result) bool { return r.Contender == pc.Contender })
				if me == nil {
					continue
				}
				if tg.ref == "" {
					if rss := maxRSS(*me); rss > 0 {
						vals = append(vals, float64(rss)/(1<<20))
					}
					continue
				}
				other := find(round, func(r *Result) bool {
					return r.Kind == tg.ref && (tg.ref != KindVpncloud || r.Cipher == pc.Cipher)
				})
				if other == nil {
					continue
				}
				ref = other.Contender
				ratios, err := ComputeRatios([]Result{*me, *other}, other.Contender)
				if err != nil {
					continue
				}
				for _, f := range ratioFigures {
					if f.name == tg.fig {
						if v := f.get(ratios[me.Contender]); v > 0 {
							vals = append(vals, v)
						}
					}
				}
			}
			if len(vals) == 0 {
				continue
			}
			sort.Float64s(vals)
			meets := func(v float64) bool {
				if tg.atMost {
					return v <= tg.bound
				}
				return v >= tg.bound
			}
			s := RatioSpread{Median: vals[(len(vals)-1)/2], Min: vals[0], Max: vals[len(vals)-1], Rounds: len(vals)}
			worst := s.Min
			if tg.atMost {
				worst = s.Max
			}
			out = append(out, TargetResult{Contender: pc.Contender, Target: tg.name, Reference: ref,
				Spread: s, Met: meets(s.Median), EveryRound: meets(worst)})
		}
	}
	return out
}

// find returns the first result of round that ok accepts, or nil.
func find(round []Result, ok func(*Result) bool) *Result {
	for i := range round {
		if ok(&round[i]) {
			return &round[i]
		}
	}
	return nil
}

// targetTable renders ComputeTargets' results, one row per contender and
// target. Empty when there are none.
func targetTable(rep *Report) string {
	if len(rep.Targets) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nTargets (each round's own ratio, or for memory its value in MiB: the median round's, and the lowest–highest; met: by the median round):\n\n")
	b.WriteString("| contender | target | median (lowest–highest) | rounds | met |\n")
	b.WriteString("|---|---|---:|---:|---|\n")
	for _, t := range rep.Targets {
		unit := "×"
		if t.Reference == "" {
			unit = " MiB"
		}
		met := "no"
		switch {
		case t.EveryRound:
			met = "yes, every round"
		case t.Met:
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f%s (%.2f–%.2f) | %d | %s |\n",
			mdEscape(t.Contender), mdEscape(t.Target), t.Spread.Median, unit, t.Spread.Min, t.Spread.Max, t.Spread.Rounds, met)
	}
	return b.String()
}
