package bench

import (
	"strings"
	"testing"
)

// TestTargets checks the targets the way the note's table states them:
// each round's own ratio against the right contender (the VpnCloud of the
// same cipher), met by the median round, "every round" only when the
// worst round meets it too, absolute memory in MiB, and nothing for a
// reference that did not run.
func TestTargets(t *testing.T) {
	kind := func(r Result, k Kind, cipher string) Result {
		r.Kind, r.Cipher = k, cipher
		return r
	}
	withPing := func(r Result, ms float64) Result {
		r.PingIdle = &PingStats{AvgMs: ms}
		return r
	}
	round := func(pcTCP, wgTCP, pcPing, vcPing, otherVcPing float64, pcRSS int64) []Result {
		return []Result{
			withPing(kind(roundResult("peercloud-aes128", pcTCP, 150e3, 0.4, pcRSS, 2, 0), KindPeercloud, "aes128"), pcPing),
			withPing(kind(roundResult("wireguard-go", wgTCP, 30e3, 6, 300<<20, 6, 0), KindWireguardGo, ""), 0.5),
			withPing(kind(roundResult("vpncloud-chacha20", 700, 50e3, 3, 5<<20, 16, 0), KindVpncloud, "chacha20"), otherVcPing),
			withPing(kind(roundResult("vpncloud-aes128", 700, 50e3, 3, 5<<20, 16, 0), KindVpncloud, "aes128"), vcPing),
		}
	}
	rounds := [][]Result{
		round(5000, 2000, 0.24, 0.25, 1, 20<<20), // 2.5×, 0.96×
		round(4000, 2100, 0.26, 0.25, 1, 21<<20), // 1.90×, 1.04×
		round(6000, 2000, 0.23, 0.25, 1, 40<<20), // 3.0×, 0.92×
	}
	got := map[string]TargetResult{}
	for _, tr := range ComputeTargets(rounds) {
		if tr.Contender != "peercloud-aes128" {
			t.Fatalf("target for %s: only peercloud contenders are checked", tr.Contender)
		}
		got[tr.Target] = tr
	}
	if _, ok := got["TCP a→b ≥ 1.25× Nebula"]; ok {
		t.Error("a target against Nebula, which did not run")
	}
	if _, ok := got["TCP b→a ≥ 2× wireguard-go"]; ok {
		t.Error("a target for a figure no round has")
	}
	tcp := got["TCP a→b ≥ 2× wireguard-go"]
	if tcp.Reference != "wireguard-go" || tcp.Spread.Rounds != 3 || tcp.Spread.Median != 2.5 ||
		tcp.Spread.Min != 4000.0/2100 || tcp.Spread.Max != 3 || !tcp.Met || tcp.EveryRound {
		t.Errorf("TCP against wireguard-go: %+v", tcp)
	}
	ping := got["ping idle ≤ VpnCloud's"]
	if ping.Reference != "vpncloud-aes128" || ping.Spread.Median != 0.24/0.25 || !ping.Met || ping.EveryRound {
		t.Errorf("idle ping against VpnCloud of the same cipher: %+v", ping)
	}
	rss := got["peak RSS ≤ 32 MiB"]
	if rss.Reference != "" || rss.Spread.Median != 21 || rss.Spread.Max != 40 || !rss.Met || rss.EveryRound {
		t.Errorf("peak RSS: %+v", rss)
	}

	// A single run is one round; a median that misses is "no".
	one := ComputeTargets(rounds[1:2])
	var found bool
	for _, tr := range one {
		if tr.Target == "TCP a→b ≥ 2× wireguard-go" {
			found = true
			if tr.Met || tr.Spread.Rounds != 1 {
				t.Errorf("one round at 1.90×: %+v", tr)
			}
		}
	}
	if !found {
		t.Error("no TCP target from a single round")
	}

	md := Markdown(&Report{Results: rounds[0], Targets: ComputeTargets(rounds)})
	for _, want := range []string{
		"| peercloud-aes128 | TCP a→b ≥ 2× wireguard-go | 2.50× (1.90–3.00) | 3 | yes |",
		"| peercloud-aes128 | peak RSS ≤ 32 MiB | 21.00 MiB (20.00–40.00) | 3 | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}
