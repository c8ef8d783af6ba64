package bench

import (
	"reflect"
	"strings"
	"testing"
)

func roundResult(name string, tcp, udpPPS, pingMs float64, rss int64, tcpCPU float64, retrans int64) Result {
	return Result{Contender: name, Kind: KindPeercloud, Version: "v1", TunnelMTU: 1400,
		TCPAtoB:        &TCPResult{BitsPerSecond: tcp * 1e6, Seconds: 5, Retransmits: retrans},
		UDP64:          &UDPResult{DeliveredPPS: udpPPS, Seconds: 5},
		UDP64Sustained: &SustainedUDP{PPS: udpPPS},
		PingLoad:       &PingStats{AvgMs: pingMs}, LoadStream: &TCPResult{BitsPerSecond: tcp * 1e6, Seconds: 4, Retransmits: retrans},
		Nodes: map[string]NodeStats{
			"a": {PeakRSSBytes: rss, CPUSeconds: tcpCPU * 3, PhaseCPUSeconds: map[string]float64{"tcp_a_to_b": tcpCPU, "udp_64": udpPPS / 1e5}},
			"b": {PeakRSSBytes: rss / 2, CPUSeconds: tcpCPU * 2, PhaseCPUSeconds: map[string]float64{"tcp_a_to_b": tcpCPU / 2}},
		}}
}

func TestMergeRoundsTakesMedianRounds(t *testing.T) {
	rounds := [][]Result{
		{roundResult("pc", 5000, 100e3, 3.0, 17<<20, 2.0, 0), roundResult("neb", 4000, 90e3, 0.9, 28<<20, 3, 1000)},
		{roundResult("pc", 3000, 120e3, 2.0, 18<<20, 1.0, 7), roundResult("neb", 4200, 95e3, 0.8, 27<<20, 3, 2000)},
		{roundResult("pc", 4000, 110e3, 4.0, 16<<20, 1.5, 3), roundResult("neb", 3900, 99e3, 0.7, 29<<20, 3, 3000)},
	}
	// The sustained rates' median round (1) is not the UDP one (3).
	rounds[0][0].UDP64Sustained.PPS, rounds[1][0].UDP64Sustained.PPS, rounds[2][0].UDP64Sustained.PPS = 150e3, 130e3, 170e3
	rounds[0][0].Nodes["a"].PhaseCPUSeconds["udp_64_sustained"] = 0.7
	rounds[2][1].Errors = []string{"udp_64: lost"}
	rounds[2][1].UDP64 = nil // a failed measurement does not vote
	got := MergeRounds(rounds)
	if len(got) != 2 || got[0].Contender != "pc" || got[1].Contender != "neb" {
		t.Fatalf("merged %d results: %+v", len(got), got)
	}
	pc := got[0]
	// TCP: 3000, 4000, 5000 -> round 3's, with its retransmits and the
	// CPU time of that phase.
	if pc.TCPAtoB.BitsPerSecond != 4000e6 || pc.TCPAtoB.Retransmits != 3 {
		t.Errorf("TCP a->b %+v, want round 3's", pc.TCPAtoB)
	}
	if a := pc.Nodes["a"].PhaseCPUSeconds["tcp_a_to_b"]; a != 1.5 {
		t.Errorf("tcp CPU of a %v, want 1.5 (round 3)", a)
	}
	// UDP: 100k, 110k, 120k -> round 3's; its phase CPU too.
	if pc.UDP64.DeliveredPPS != 110e3 || pc.Nodes["a"].PhaseCPUSeconds["udp_64"] != 1.1 {
		t.Errorf("UDP %+v cpu %v, want round 3's", pc.UDP64, pc.Nodes["a"].PhaseCPUSeconds["udp_64"])
	}
	// Sustained: 150k, 130k, 170k -> round 1's, with its phase CPU.
	if pc.UDP64Sustained.PPS != 150e3 || pc.Nodes["a"].PhaseCPUSeconds["udp_64_sustained"] != 0.7 {
		t.Errorf("sustained UDP %+v cpu %v, want round 1's 150k, 0.7", pc.UDP64Sustained, pc.Nodes["a"].PhaseCPUSeconds["udp_64_sustained"])
	}
	// Loaded ping: 2, 3, 4 ms -> round 1's, with its load stream.
	if pc.PingLoad.AvgMs != 3.0 || pc.LoadStream.BitsPerSecond != 5000e6 {
		t.Errorf("loaded ping %+v stream %+v, want round 1's", pc.PingLoad, pc.LoadStream)
	}
	if rss := pc.Nodes["a"].PeakRSSBytes; rss != 18<<20 {
		t.Errorf("peak RSS %d, want the largest (18 MiB)", rss)
	}
	if pc.Version != "v1" || pc.TunnelMTU != 1400 || len(pc.Errors) != 0 {
		t.Errorf("merged identity %+v", pc)
	}
	neb := got[1]
	// Two rounds have UDP: 90k, 95k -> the lower middle one.
	if neb.UDP64.DeliveredPPS != 90e3 {
		t.Errorf("nebula UDP %v, want 90k (lower middle of two)", neb.UDP64.DeliveredPPS)
	}
	if !reflect.DeepEqual(neb.Errors, []string{"round 3: udp_64: lost"}) {
		t.Errorf("errors %q", neb.Errors)
	}
}

func TestInOrderUndoesTheRotation(t *testing.T) {
	cs := []Contender{{Name: "x"}, {Name: "y"}, {Name: "z"}}
	got := inOrder([]Result{{Contender: "y"}, {Contender: "z"}, {Contender: "x"}}, cs)
	if got[0].Contender != "x" || got[1].Contender != "y" || got[2].Contender != "z" {
		t.Errorf("order %v", got)
	}
}

func TestMarkdownNamesCongestionControl(t *testing.T) {
	rep := sampleReport()
	if strings.Contains(Markdown(rep), "congestion") {
		t.Error("header names a congestion control nobody recorded")
	}
	rep.Host.TCPCongestion = "bbr"
	if md := Markdown(rep); !strings.Contains(md, "iperf 3.12, TCP congestion control bbr;") {
		t.Errorf("header lacks the congestion control:\n%s", md)
	}
}

func TestMarkdownSaysRounds(t *testing.T) {
	rep := sampleReport()
	if strings.Contains(Markdown(rep), "median") {
		t.Error("a one-round report mentions medians")
	}
	rep.Options.Rounds = 3
	if md := Markdown(rep); !strings.Contains(md, "measured 3 times") {
		t.Errorf("three-round report does not say so:\n%s", md)
	}
}

// TestRoundRatios: each round's own ratio, then median, lowest and
// highest over the rounds, which differs from the ratio of the medians
// when the medians come from different rounds.
func TestRoundRatios(t *testing.T) {
	rounds := [][]Result{
		{roundResult("pc", 6000, 100e3, 3.0, 17<<20, 2, 0), roundResult("neb", 3000, 100e3, 1.0, 28<<20, 3, 0)}, // 2.0×
		{roundResult("pc", 4000, 120e3, 2.0, 17<<20, 2, 0), roundResult("neb", 4000, 80e3, 1.0, 28<<20, 3, 0)},  // 1.0×
		{roundResult("pc", 5000, 110e3, 4.0, 17<<20, 2, 0), roundResult("neb", 2000, 110e3, 2.0, 28<<20, 3, 0)}, // 2.5×
		{roundResult("pc", 4500, 90e3, 1.0, 17<<20, 2, 0), roundResult("neb", 1500, 0, 0.5, 28<<20, 3, 0)},      // 3.0×
	}
	rounds[3][1].UDP64, rounds[3][1].UDP64Sustained = nil, nil // a figure missing in one round
	rr := ComputeRoundRatios(rounds, "neb")
	if _, ok := rr["neb"]; ok || len(rr) != 1 {
		t.Fatalf("spreads for %v, want pc only", rr)
	}
	pc := rr["pc"]
	for fig, want := range map[string]RatioSpread{
		"tcp_a_to_b":    {Median: 2.0, Min: 1.0, Max: 3.0, Rounds: 4}, // lower middle of 1, 2, 2.5, 3
		"udp_pps":       {Median: 1.0, Min: 1.0, Max: 1.5, Rounds: 3},
		"ping_load_avg": {Median: 2.0, Min: 2.0, Max: 3.0, Rounds: 4},
	} {
		if got := pc[fig]; got != want {
			t.Errorf("%s: %+v, want %+v", fig, got, want)
		}
	}
	if _, ok := pc["tcp_b_to_a"]; ok {
		t.Error("a figure no round has got a spread")
	}
	if ComputeRoundRatios(rounds[:1], "neb") != nil || ComputeRoundRatios(rounds, "") != nil {
		t.Error("spreads from one round or without a baseline")
	}
	if got := ComputeRoundRatios(rounds, "tinc"); len(got) != 0 {
		t.Errorf("spreads against an unknown baseline: %v", got)
	}

	rep := &Report{Baseline: "neb", Results: MergeRounds(rounds), RoundRatios: rr}
	rep.Options.Streams = 4
	md := Markdown(rep)
	if !strings.Contains(md, "Ratios to **neb** round by round") || !strings.Contains(md, "| pc | 2.00× (1.00–3.00) | – | – | 1.00× (1.00–1.50) |") {
		t.Errorf("round-by-round table missing or wrong:\n%s", md)
	}
	if strings.Contains(Markdown(&Report{Results: rep.Results}), "round by round") {
		t.Error("a report without spreads has their table")
	}
}
