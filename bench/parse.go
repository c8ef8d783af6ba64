package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// TCPResult is one iperf3 TCP run as the receiver saw it.
type TCPResult struct {
	BitsPerSecond float64 `json:"bits_per_second"` // delivered at the receiver
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	Retransmits   int64   `json:"retransmits"` // sender's count
}

// UDPResult is one iperf3 UDP run: what the sender sent and what the
// receiver got.
type UDPResult struct {
	SentPackets      int64   `json:"sent_packets"`
	LostPackets      int64   `json:"lost_packets"`
	Seconds          float64 `json:"seconds"`
	DeliveredPPS     float64 `json:"delivered_pps"` // (sent - lost) / seconds
	DeliveredBitsPS  float64 `json:"delivered_bits_per_second"`
	LostPercent      float64 `json:"lost_percent"`
	ReceiverJitterMs float64 `json:"jitter_ms"`
}

// iperfSum is the subset of an iperf3 "end.sum*" object the harness reads.
type iperfSum struct {
	Seconds       float64 `json:"seconds"`
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   int64   `json:"retransmits"`
	Packets       *int64  `json:"packets"`
	LostPackets   int64   `json:"lost_packets"`
	LostPercent   float64 `json:"lost_percent"`
	JitterMs      float64 `json:"jitter_ms"`
	Sender        *bool   `json:"sender"`
}

type iperfJSON struct {
	Error string `json:"error"`
	End   struct {
		Sum         *iperfSum `json:"sum"`
		SumSent     *iperfSum `json:"sum_sent"`
		SumReceived *iperfSum `json:"sum_received"`
	} `json:"end"`
}

func decodeIperf(b []byte) (*iperfJSON, error) {
	var j iperfJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIperfOutput, err)
	}
	if j.Error != "" {
		return nil, fmt.Errorf("%w: iperf3 says: %s", ErrIperfOutput, j.Error)
	}
	return &j, nil
}

// ParseIperfTCP reads the JSON that `iperf3 -c ... -J` prints for a TCP
// test (one or more streams) and returns the receiver's total.
func ParseIperfTCP(b []byte) (TCPResult, error) {
	j, err := decodeIperf(b)
	if err != nil {
		return TCPResult{}, fmt.Errorf("ParseIperfTCP: %w", err)
	}
	r := j.End.SumReceived
	if r == nil {
		return TCPResult{}, fmt.Errorf("ParseIperfTCP: %w: no end.sum_received", ErrIperfOutput)
	}
	if !finite(r.BitsPerSecond) || r.BitsPerSecond < 0 || !finite(r.Seconds) {
		return TCPResult{}, fmt.Errorf("ParseIperfTCP: %w: rate %v", ErrIperfOutput, r.BitsPerSecond)
	}
	res := TCPResult{BitsPerSecond: r.BitsPerSecond, Bytes: r.Bytes, Seconds: r.Seconds}
	if s := j.End.SumSent; s != nil {
		res.Retransmits = s.Retransmits
	}
	return res, nil
}

// ParseIperfUDP reads the JSON of `iperf3 -c ... -u -J` and returns the
// packet rate delivered at the receiver. iperf3 3.12 and later report it in
// end.sum_received; older ones only in end.sum, which then carries the
// receiver's loss count.
func ParseIperfUDP(b []byte) (UDPResult, error) {
	j, err := decodeIperf(b)
	if err != nil {
		return UDPResult{}, fmt.Errorf("ParseIperfUDP: %w", err)
	}
	s := j.End.SumReceived
	if s == nil || s.Packets == nil {
		s = j.End.Sum
	}
	if s == nil || s.Packets == nil {
		return UDPResult{}, fmt.Errorf("ParseIperfUDP: %w: no end.sum with packet counts", ErrIperfOutput)
	}
	if *s.Packets < 0 || s.LostPackets < 0 || s.LostPackets > *s.Packets || !finite(s.Seconds) || s.Seconds <= 0 {
		return UDPResult{}, fmt.Errorf("ParseIperfUDP: %w: packets %d lost %d in %v s", ErrIperfOutput, *s.Packets, s.LostPackets, s.Seconds)
	}
	got := *s.Packets - s.LostPackets
	return UDPResult{
		SentPackets:      *s.Packets,
		LostPackets:      s.LostPackets,
		Seconds:          s.Seconds,
		DeliveredPPS:     float64(got) / s.Seconds,
		DeliveredBitsPS:  s.BitsPerSecond,
		LostPercent:      s.LostPercent,
		ReceiverJitterMs: s.JitterMs,
	}, nil
}

// PingStats summarises a ping run's round-trip times in milliseconds.
type PingStats struct {
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	MinMs    float64 `json:"min_ms"`
	AvgMs    float64 `json:"avg_ms"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// ParsePing reads iputils ping output (without -q): one "time=X ms" per
// reply and the "N packets transmitted, M received" summary line.
func ParsePing(out string) (PingStats, error) {
	var times []float64
	var st PingStats
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "time="); i >= 0 && strings.Contains(line, "bytes from") {
			f := strings.Fields(line[i+len("time="):])
			if len(f) == 0 {
				continue
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil || !finite(v) || v < 0 {
				return PingStats{}, fmt.Errorf("ParsePing: %w: reply time %q", ErrPingOutput, f[0])
			}
			times = append(times, v)
		}
		if strings.Contains(line, "packets transmitted") {
			f := strings.Fields(line)
			if len(f) > 0 {
				st.Sent, _ = strconv.Atoi(f[0])
			}
			for k := 1; k < len(f); k++ {
				if strings.HasPrefix(f[k], "received") {
					st.Received, _ = strconv.Atoi(f[k-1])
				}
			}
		}
	}
	if len(times) == 0 {
		return PingStats{}, fmt.Errorf("ParsePing: %w: no replies", ErrPingOutput)
	}
	if st.Received == 0 {
		st.Received = len(times)
	}
	if st.Sent < st.Received {
		st.Sent = st.Received
	}
	sort.Float64s(times)
	sum := 0.0
	for _, v := range times {
		sum += v
	}
	st.MinMs, st.MaxMs = times[0], times[len(times)-1]
	st.AvgMs = sum / float64(len(times))
	st.P50Ms = percentile(times, 0.50)
	st.P99Ms = percentile(times, 0.99)
	return st, nil
}

// percentile returns the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(sorted) {
		rank = len(sorted) - 1
	}
	return sorted[rank]
}

// ParseVmHWM returns the peak resident set size in bytes from the contents
// of /proc/PID/status (the "VmHWM:   1234 kB" line).
func ParseVmHWM(status []byte) (int64, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("ParseVmHWM: %w: line %q", ErrProcFile, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > math.MaxInt64/1024 {
			return 0, fmt.Errorf("ParseVmHWM: %w: value %q", ErrProcFile, f[0])
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("ParseVmHWM: %w: no VmHWM line", ErrProcFile)
}

// ParseCPUTicks returns utime+stime (fields 14 and 15, in clock ticks) from
// the contents of /proc/PID/stat. The command name in field 2 may hold
// spaces and parentheses, so fields are counted after its last ')'.
func ParseCPUTicks(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("ParseCPUTicks: %w: no command name", ErrProcFile)
	}
	f := strings.Fields(string(stat[i+1:]))
	// After ')' come field 3 (state) onwards: utime is field 14 -> f[11].
	if len(f) < 13 {
		return 0, fmt.Errorf("ParseCPUTicks: %w: %d fields", ErrProcFile, len(f)+2)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil || u > math.MaxUint64-s {
		return 0, fmt.Errorf("ParseCPUTicks: %w: utime %q stime %q", ErrProcFile, f[11], f[12])
	}
	return u + s, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
