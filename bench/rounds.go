package bench

import (
	"fmt"
	"sort"
)

// inOrder returns results sorted like contenders (a round measures them in
// a rotated order).
func inOrder(results []Result, contenders []Contender) []Result {
	pos := make(map[string]int, len(contenders))
	for i, c := range contenders {
		pos[c.Name] = i
	}
	out := append([]Result(nil), results...)
	sort.SliceStable(out, func(i, j int) bool { return pos[out[i].Contender] < pos[out[j].Contender] })
	return out
}

// MergeRounds folds several rounds of results (each in the same contender
// order) into one result per contender: for every measurement the round
// with the median figure (the lower middle one for an even count), taken
// whole, so that a TCP rate keeps its own retransmissions and the CPU time
// of that phase; peak RSS is the largest of all rounds; errors are kept
// with their round number. A round that lacks a measurement does not vote
// for it.
func MergeRounds(rounds [][]Result) []Result {
	if len(rounds) == 0 {
		return nil
	}
	out := make([]Result, len(rounds[0]))
	for ci := range rounds[0] {
		rs := make([]*Result, 0, len(rounds))
		for _, round := range rounds {
			if ci < len(round) && round[ci].Contender == rounds[0][ci].Contender {
				rs = append(rs, &round[ci])
			}
		}
		out[ci] = mergeContender(rs)
	}
	return out
}

func mergeContender(rs []*Result) Result {
	m := Result{Contender: rs[0].Contender, Kind: rs[0].Kind, Cipher: rs[0].Cipher, Nodes: map[string]NodeStats{}}
	for _, r := range rs {
		if m.Version == "" {
			m.Version = r.Version
		}
		if m.TunnelMTU == 0 {
			m.TunnelMTU = r.TunnelMTU
		}
	}
	if r := medianOf(rs, func(r *Result) (float64, bool) { return r.TunnelUpSeconds, r.TunnelUpSeconds > 0 }); r != nil {
		m.TunnelUpSeconds = r.TunnelUpSeconds
	}

	// pick sets a measurement from the median round and copies that
	// round's CPU time for the phase.
	pick := func(phase string, fig func(*Result) (float64, bool), set func(from *Result)) {
		r := medianOf(rs, fig)
		if r == nil {
			return
		}
		set(r)
		for node, st := range r.Nodes {
			if v, ok := st.PhaseCPUSeconds[phase]; ok {
				ns := m.Nodes[node]
				if ns.PhaseCPUSeconds == nil {
					ns.PhaseCPUSeconds = map[string]float64{}
				}
				ns.PhaseCPUSeconds[phase] = v
				m.Nodes[node] = ns
			}
		}
	}
	tcp := func(get func(*Result) *TCPResult) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) {
			t := get(r)
			return tcpMbps(t), t != nil
		}
	}
	ping := func(get func(*Result) *PingStats) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) {
			p := get(r)
			if p == nil {
				return 0, false
			}
			return p.AvgMs, true
		}
	}
	pick("tcp_a_to_b", tcp(func(r *Result) *TCPResult { return r.TCPAtoB }), func(r *Result) { m.TCPAtoB = r.TCPAtoB })
	pick("tcp_b_to_a", tcp(func(r *Result) *TCPResult { return r.TCPBtoA }), func(r *Result) { m.TCPBtoA = r.TCPBtoA })
	pick("tcp_parallel", tcp(func(r *Result) *TCPResult { return r.TCPParallel }), func(r *Result) { m.TCPParallel = r.TCPParallel })
	pick("udp_64", func(r *Result) (float64, bool) { return udpKpps(r.UDP64), r.UDP64 != nil }, func(r *Result) { m.UDP64 = r.UDP64 })
	pick("udp_64_sustained", func(r *Result) (float64, bool) {
		return sustainedKpps(r.UDP64Sustained), r.UDP64Sustained != nil
	}, func(r *Result) { m.UDP64Sustained = r.UDP64Sustained })
	pick("ping_idle", ping(func(r *Result) *PingStats { return r.PingIdle }), func(r *Result) { m.PingIdle = r.PingIdle })
	pick("ping_load", ping(func(r *Result) *PingStats { return r.PingLoad }), func(r *Result) { m.PingLoad, m.LoadStream = r.PingLoad, r.LoadStream })

	for _, node := range []string{"a", "b"} {
		ns := m.Nodes[node]
		var cpu []float64
		for _, r := range rs {
			st, ok := r.Nodes[node]
			if !ok {
				continue
			}
			ns.PeakRSSBytes = max(ns.PeakRSSBytes, st.PeakRSSBytes)
			cpu = append(cpu, st.CPUSeconds)
		}
		if len(cpu) == 0 {
			continue
		}
		sort.Float64s(cpu)
		ns.CPUSeconds = cpu[(len(cpu)-1)/2]
		m.Nodes[node] = ns
	}
	for i, r := range rs {
		for _, e := range r.Errors {
			m.Errors = append(m.Errors, fmt.Sprintf("round %d: %s", i+1, e))
		}
	}
	return m
}

// medianOf returns the result whose figure is the median of those that
// have one (the lower middle one for an even count), or nil.
func medianOf(rs []*Result, fig func(*Result) (float64, bool)) *Result {
	type kv struct {
		v float64
		r *Result
	}
	var have []kv
	for _, r := range rs {
		if v, ok := fig(r); ok {
			have = append(have, kv{v, r})
		}
	}
	if len(have) == 0 {
		return nil
	}
	sort.SliceStable(have, func(i, j int) bool { return have[i].v < have[j].v })
	return have[(len(have)-1)/2].r
}
