package bench

import (
	"fmt"
	"math"
	"strings"
)

// palette holds distinguishable bar colours, one per contender in order.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

type chartPanel struct {
	title, unit string
	value       func(Result) float64
}

var chartPanels = []chartPanel{
	{"TCP a→b", "Mbit/s", func(r Result) float64 { return tcpMbps(r.TCPAtoB) }},
	{"TCP b→a", "Mbit/s", func(r Result) float64 { return tcpMbps(r.TCPBtoA) }},
	{"UDP 64-byte packets", "kpackets/s delivered", func(r Result) float64 { return udpKpps(r.UDP64) }},
	{"UDP 64-byte, ≤1 % loss", "kpackets/s delivered", func(r Result) float64 { return sustainedKpps(r.UDP64Sustained) }},
}

// SVG renders a grouped bar chart of the report: one panel per figure (TCP
// a→b, TCP b→a, UDP 64-byte packet rate unthrottled and with at most 1 %
// loss), one coloured bar per contender
// with its value written on it, labelled axes and a legend. Hand-written
// SVG 1.1, no dependencies.
func SVG(rep *Report) string {
	n := len(rep.Results)
	const (
		top, axisW, gap  = 90.0, 58.0, 24.0
		plotH, bottom    = 260.0, 70.0
		minPlotW, perBar = 180.0, 56.0
	)
	plotW := math.Max(minPlotW, float64(n)*perBar)
	panelW := axisW + plotW + gap
	width := 20 + panelW*float64(len(chartPanels))
	legendRows := (n + 3) / 4
	height := top + plotH + bottom + float64(legendRows)*20

	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%.0f" height="%.0f" fill="#ffffff"/>`+"\n", width, height)
	title := "peercloud-bench: throughput through the tunnel (higher is better)"
	fmt.Fprintf(&b, `<text x="%.0f" y="28" font-size="18" font-weight="bold" text-anchor="middle">%s</text>`+"\n", width/2, xmlEscape(title))
	sub := fmt.Sprintf("%d CPUs, kernel %s, %.0f s per test, load %s", rep.Host.CPUs, rep.Host.Kernel, rep.Options.DurationSeconds, loadShort(rep.Host.LoadBefore))
	fmt.Fprintf(&b, `<text x="%.0f" y="48" font-size="12" fill="#555555" text-anchor="middle">%s</text>`+"\n", width/2, xmlEscape(sub))

	for pi, p := range chartPanels {
		x0 := 20 + float64(pi)*panelW + axisW // left edge of the plot area
		y0 := top + plotH                     // baseline
		maxV := 0.0
		for _, r := range rep.Results {
			maxV = math.Max(maxV, p.value(r))
		}
		scale := niceCeil(maxV)
		fmt.Fprintf(&b, `<g class="panel">`+"\n")
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="14" font-weight="bold" text-anchor="middle">%s</text>`+"\n", x0+plotW/2, top-16, xmlEscape(p.title))
		// Y axis: ticks, grid lines and its label.
		for i := 0; i <= 5; i++ {
			v := scale * float64(i) / 5
			y := y0 - plotH*float64(i)/5
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", x0, y, x0+plotW, y)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%s</text>`+"\n", x0-5, y+4, fmtTick(v, scale/5))
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000000"/>`+"\n", x0, top, x0, y0)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000000"/>`+"\n", x0, y0, x0+plotW, y0)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
			x0-44, top+plotH/2, x0-44, top+plotH/2, xmlEscape(p.unit))
		// Bars, one per contender, value on top.
		slot := plotW / math.Max(1, float64(n))
		bw := slot * 0.7
		for i, r := range rep.Results {
			v := p.value(r)
			h := 0.0
			if scale > 0 {
				h = plotH * v / scale
			}
			x := x0 + slot*float64(i) + (slot-bw)/2
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s %s</title></rect>`+"\n",
				x, y0-h, bw, h, palette[i%len(palette)], xmlEscape(r.Contender), fmtValue(v), xmlEscape(p.unit))
			label := fmtValue(v)
			if v <= 0 {
				label = "n/a"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`+"\n", x+bw/2, y0-h-4, label)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle">contenders (colours: see legend)</text>`+"\n", x0+plotW/2, y0+20)
		fmt.Fprintf(&b, "</g>\n")
	}
	// Legend.
	ly := top + plotH + 48
	for i, r := range rep.Results {
		lx := 20 + axisW + float64(i%4)*220
		y := ly + float64(i/4)*20
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="14" height="14" fill="%s"/>`+"\n", lx, y-11, palette[i%len(palette)])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12">%s</text>`+"\n", lx+20, y, xmlEscape(r.Contender))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v <= 0).
func niceCeil(v float64) float64 {
	if v <= 0 || !finite(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// fmtTick formats an axis tick with as many decimals as the step needs.
func fmtTick(v, step float64) string {
	switch {
	case step >= 1:
		return fmt.Sprintf("%.0f", v)
	case step >= 0.1:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtValue(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

var xmlReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

// xmlEscape makes s safe as XML text: invalid UTF-8 and the control
// characters XML 1.0 forbids become '?', markup characters entities.
func xmlEscape(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	return xmlReplacer.Replace(s)
}
