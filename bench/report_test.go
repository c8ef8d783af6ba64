package bench

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	rep := &Report{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Host: Host{CPUs: 2, Kernel: "6.1", LoadBefore: "1.00 0.50 0.25 1/100 42", Iperf3: "iperf 3.12"}}
	rep.Options.DurationSeconds, rep.Options.Streams, rep.Options.PingCount = 5, 4, 200
	rep.Results = []Result{
		{Contender: "peercloud-aes128", Kind: KindPeercloud, Cipher: "aes128", Version: "peercloud v0.1", TunnelMTU: 1400,
			TCPAtoB: &TCPResult{BitsPerSecond: 2000e6}, TCPBtoA: &TCPResult{BitsPerSecond: 1800e6}, TCPParallel: &TCPResult{BitsPerSecond: 2400e6},
			UDP64: &UDPResult{DeliveredPPS: 300e3}, UDP64Sustained: &SustainedUDP{PPS: 250e3}, PingIdle: &PingStats{AvgMs: 0.2, P99Ms: 0.4}, PingLoad: &PingStats{AvgMs: 1, P99Ms: 2},
			Nodes: map[string]NodeStats{"a": {PeakRSSBytes: 20 << 20, CPUSeconds: 3}, "b": {PeakRSSBytes: 10 << 20, CPUSeconds: 4}}},
		{Contender: "nebula", Kind: KindNebula, Version: "1.6.1",
			TCPAtoB: &TCPResult{BitsPerSecond: 1000e6}, TCPBtoA: &TCPResult{BitsPerSecond: 900e6}, TCPParallel: &TCPResult{BitsPerSecond: 1200e6},
			UDP64: &UDPResult{DeliveredPPS: 100e3}, UDP64Sustained: &SustainedUDP{PPS: 125e3}, PingIdle: &PingStats{AvgMs: 0.4, P99Ms: 0.9}, PingLoad: &PingStats{AvgMs: 4, P99Ms: 9},
			Nodes: map[string]NodeStats{"a": {PeakRSSBytes: 40 << 20}, "b": {PeakRSSBytes: 30 << 20}}},
		{Contender: "wireguard-go <&\"odd|name\">", Kind: KindWireguardGo, Errors: []string{"tunnel: no ping reply"}},
	}
	return rep
}

func TestComputeRatios(t *testing.T) {
	rep := sampleReport()
	rs, err := ComputeRatios(rep.Results, "nebula")
	if err != nil {
		t.Fatal(err)
	}
	pc := rs["peercloud-aes128"]
	want := Ratios{TCPAtoB: 2, TCPBtoA: 2, TCPParallel: 2, UDPPPS: 3, UDPSustained: 2, PingIdleAvg: 0.5, PingLoadAvg: 0.25, PeakRSS: 0.5}
	for name, pair := range map[string][2]float64{
		"tcp a->b": {pc.TCPAtoB, want.TCPAtoB}, "tcp b->a": {pc.TCPBtoA, want.TCPBtoA}, "parallel": {pc.TCPParallel, want.TCPParallel},
		"udp": {pc.UDPPPS, want.UDPPPS}, "udp sustained": {pc.UDPSustained, want.UDPSustained}, "ping idle": {pc.PingIdleAvg, want.PingIdleAvg}, "ping load": {pc.PingLoadAvg, want.PingLoadAvg},
		"rss (larger node)": {pc.PeakRSS, want.PeakRSS},
	} {
		if math.Abs(pair[0]-pair[1]) > 1e-9 {
			t.Errorf("%s ratio = %v, want %v", name, pair[0], pair[1])
		}
	}
	if rs["nebula"].TCPAtoB != 1 {
		t.Errorf("baseline against itself = %v, want 1", rs["nebula"].TCPAtoB)
	}
	if (rs["wireguard-go <&\"odd|name\">"] != Ratios{}) {
		t.Errorf("a contender with no figures has ratios %+v, want all zero", rs["wireguard-go <&\"odd|name\">"])
	}
	if _, err := ComputeRatios(rep.Results, "tinc"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown baseline: error %v, want ErrConfig", err)
	}
	if rs, err := ComputeRatios(rep.Results, ""); rs != nil || err != nil {
		t.Errorf("no baseline: got %v, %v; want nil, nil", rs, err)
	}
}

func TestMarkdownTable(t *testing.T) {
	rep := sampleReport()
	rep.Baseline = "nebula"
	rep.Ratios, _ = ComputeRatios(rep.Results, "nebula")
	md := Markdown(rep)
	lines := strings.Split(md, "\n")
	var rows []string
	for _, l := range lines {
		if strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| contender") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 3 {
		t.Fatalf("want one row per contender, got %d:\n%s", len(rows), md)
	}
	for _, want := range []string{"| peercloud-aes128 | peercloud v0.1 | 1400 | 2000 (2.00×) | 1800 (2.00×) | 2400 (2.00×) | 300.0 (3.00×) | 250.0 (2.00×) | 0.200 / 0.400 (0.50×) | 1.000 / 2.000 (0.25×) | 20.0 / 10.0 (0.50×) | 3.00 / 4.00 |",
		"Ratios (×) are against **nebula**", "TCP ×4", "load average before 1.00 0.50 0.25", `wireguard-go <&"odd\|name">: tunnel: no ping reply`} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	// Every row has as many cells as the header: the escaped '|' keeps it so.
	header := strings.Count(lines[indexOf(lines, "| contender")], "|") - strings.Count(lines[indexOf(lines, "| contender")], `\|`)
	for _, r := range rows {
		if n := strings.Count(r, "|") - strings.Count(r, `\|`); n != header {
			t.Errorf("row has %d separators, header %d: %s", n, header, r)
		}
	}
	if !strings.Contains(rows[2], "| – | – | – |") {
		t.Errorf("missing figures should show as –: %s", rows[2])
	}
	if strings.Contains(md, "per delivered packet") {
		t.Errorf("efficiency table without phase CPU times:\n%s", md)
	}
}

func TestMarkdownEfficiency(t *testing.T) {
	rep := sampleReport()
	pc := &rep.Results[0]
	pc.UDP64 = &UDPResult{SentPackets: 1_000_000, Seconds: 5, DeliveredPPS: 100e3}
	pc.TCPAtoB = &TCPResult{BitsPerSecond: 4e9, Seconds: 5}
	pc.Nodes = map[string]NodeStats{
		"a": {PhaseCPUSeconds: map[string]float64{"udp_64": 1.5, "tcp_a_to_b": 3}},
		"b": {PhaseCPUSeconds: map[string]float64{"udp_64": 0.5, "tcp_a_to_b": 2}},
	}
	md := Markdown(rep)
	// 200 kpps offered; 2 s CPU / 500 000 packets = 4 µs; 5 s CPU / 2.5 GB = 2 s/GB.
	if want := "| peercloud-aes128 | 200.0 | 4.00 | 2.00 |"; !strings.Contains(md, want) {
		t.Errorf("Markdown lacks %q:\n%s", want, md)
	}
	// Contenders without phase times get no row: nebula appears in the
	// main table only.
	if n := strings.Count(md, "\n| nebula |"); n != 1 {
		t.Errorf("nebula has %d rows, want 1 (no efficiency row without CPU times):\n%s", n, md)
	}
}

func TestMarkdownRetransmits(t *testing.T) {
	rep := sampleReport()
	rep.Results[0].TCPAtoB = &TCPResult{BitsPerSecond: 4e9, Seconds: 5, Retransmits: 0}
	rep.Results[0].LoadStream = &TCPResult{BitsPerSecond: 4e9, Seconds: 4, Retransmits: 12}
	rep.Results[1].TCPAtoB = &TCPResult{BitsPerSecond: 3e9, Seconds: 5, Retransmits: 250_000}
	rep.Results[1].TCPBtoA = nil
	md := Markdown(rep)
	for _, want := range []string{
		// Per second of each test; no duration (sample rows): –.
		"| peercloud-aes128 | 0 | – | – | 3 |\n",
		"| nebula | 50000 | – | – | – |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if n := strings.Count(md, "\n| wireguard-go"); n != 1 {
		t.Errorf("wireguard-go (no TCP results) has %d rows, want 1:\n%s", n, md)
	}
	if strings.Contains(Markdown(sampleReport()), "retransmitted") {
		t.Error("retransmission table without timed TCP results")
	}
}

func indexOf(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return 0
}

// svgTexts parses the SVG as XML and returns its text nodes and the number
// of bar rectangles with a <title>.
func svgTexts(t *testing.T, svg string) (texts []string, bars int) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	var stack []string
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = v.Name.Local
				if v.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", v.Name.Space)
				}
			}
			if v.Name.Local == "title" && len(stack) > 0 && stack[len(stack)-1] == "rect" {
				bars++
			}
			stack = append(stack, v.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && (stack[len(stack)-1] == "text" || stack[len(stack)-1] == "title") {
				texts = append(texts, string(v))
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return texts, bars
}

func TestSVGChart(t *testing.T) {
	rep := sampleReport()
	texts, bars := svgTexts(t, SVG(rep))
	all := strings.Join(texts, "\n")
	for _, want := range []string{"peercloud-aes128", "nebula", `wireguard-go <&"odd|name">`, // legend, unescaped by the parser
		"TCP a→b", "TCP b→a", "UDP 64-byte packets", "UDP 64-byte, ≤1 % loss", "Mbit/s", "kpackets/s delivered", // panels and axis labels
		"2000", "1800", "300", "250", "n/a"} { // values on bars
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q; texts:\n%s", want, all)
		}
	}
	if want := 4 * len(rep.Results); bars != want {
		t.Errorf("%d bars, want %d (4 panels × contenders)", bars, want)
	}
	// Bars are scaled within their panel: the biggest fills the plot.
	if !strings.Contains(SVG(rep), `height="260.0" fill=`) {
		t.Error("the largest bar of a panel should reach the top of the scale (niceCeil of 2000 is 2000)")
	}
}

func TestSVGEmptyAndControlCharacters(t *testing.T) {
	svgTexts(t, SVG(&Report{}))
	rep := sampleReport()
	rep.Results[0].Contender = "bad\x01name\xff"
	texts, _ := svgTexts(t, SVG(rep))
	if !strings.Contains(strings.Join(texts, ""), "bad?name?") {
		t.Error("control characters and invalid UTF-8 should be replaced")
	}
}

func TestNiceCeil(t *testing.T) {
	for _, c := range [][2]float64{{0, 1}, {-3, 1}, {0.7, 1}, {1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {2000, 2000}, {2001, 5000}, {86.5, 100}, {math.NaN(), 1}} {
		if got := niceCeil(c[0]); got != c[1] {
			t.Errorf("niceCeil(%v) = %v, want %v", c[0], got, c[1])
		}
	}
}

func TestWriteFiles(t *testing.T) {
	rep := sampleReport()
	dir := filepath.Join(t.TempDir(), "out")
	f, err := WriteFiles(rep, dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 3 || back.Results[0].TCPAtoB.BitsPerSecond != 2000e6 || back.Results[0].Nodes["a"].PeakRSSBytes != 20<<20 {
		t.Fatalf("JSON does not round-trip the raw numbers: %s", b)
	}
	for _, p := range []string{f.Markdown, f.SVG} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
}
