package bench

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// iperf3 3.12 output, trimmed to what the parser reads (plus neighbours).
const iperfTCPJSON = `{"start":{"version":"iperf 3.12"},"intervals":[],"end":{"streams":[],
 "sum_sent":{"start":0,"end":5.0,"seconds":5.0,"bytes":625000000,"bits_per_second":1000000000,"retransmits":17,"sender":true},
 "sum_received":{"start":0,"end":5.01,"seconds":5.01,"bytes":620000000,"bits_per_second":990000000.5,"sender":true},
 "cpu_utilization_percent":{"host_total":50}}}`

const iperfUDPJSON = `{"end":{"streams":[],
 "sum":{"start":0,"end":1.000371,"seconds":1.000371,"bytes":5546880,"bits_per_second":44361509.7,"jitter_ms":0.35,"lost_packets":38630,"packets":86670,"lost_percent":44.57,"sender":true},
 "sum_sent":{"start":0,"end":1.000305,"seconds":1.000305,"bytes":5546880,"bits_per_second":44361509.7,"jitter_ms":0,"lost_packets":0,"packets":86670,"lost_percent":0,"sender":true},
 "sum_received":{"start":0,"end":2.0,"seconds":2.0,"bytes":3074560,"bits_per_second":24587358.1,"jitter_ms":0.35,"lost_packets":38630,"packets":86670,"lost_percent":44.57,"sender":false}}}`

// An iperf3 before 3.12 reports UDP only in end.sum.
const iperfUDPOldJSON = `{"end":{"sum":{"seconds":4.0,"bytes":0,"bits_per_second":1,"jitter_ms":0.1,"lost_packets":1000,"packets":5000,"lost_percent":20}}}`

func TestParseIperfTCP(t *testing.T) {
	r, err := ParseIperfTCP([]byte(iperfTCPJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := TCPResult{BitsPerSecond: 990000000.5, Bytes: 620000000, Seconds: 5.01, Retransmits: 17}
	if r != want {
		t.Fatalf("got %+v, want %+v (receiver's rate, sender's retransmits)", r, want)
	}
}

func TestParseIperfUDPDeliveredRate(t *testing.T) {
	r, err := ParseIperfUDP([]byte(iperfUDPJSON))
	if err != nil {
		t.Fatal(err)
	}
	// (86670 sent - 38630 lost) over the receiver's 2 s.
	if r.DeliveredPPS != 24020 || r.SentPackets != 86670 || r.LostPackets != 38630 || r.Seconds != 2 {
		t.Fatalf("got %+v, want 24020 delivered pps over the receiver's 2 s", r)
	}
	old, err := ParseIperfUDP([]byte(iperfUDPOldJSON))
	if err != nil {
		t.Fatal(err)
	}
	if old.DeliveredPPS != 1000 {
		t.Fatalf("old iperf3 format: got %v pps, want 1000", old.DeliveredPPS)
	}
}

func TestParseIperfErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          ``,
		"not json":       `iperf3: error - unable to connect`,
		"iperf error":    `{"start":{},"end":{},"error":"unable to connect to server: Connection refused"}`,
		"no end":         `{"start":{}}`,
		"negative rate":  `{"end":{"sum_received":{"seconds":1,"bits_per_second":-5}}}`,
		"udp lost>sent":  `{"end":{"sum":{"seconds":1,"packets":5,"lost_packets":6}}}`,
		"udp no seconds": `{"end":{"sum":{"seconds":0,"packets":5,"lost_packets":1}}}`,
		"udp no packets": `{"end":{"sum":{"seconds":1}}}`,
	} {
		_, errT := ParseIperfTCP([]byte(in))
		_, errU := ParseIperfUDP([]byte(in))
		if !errors.Is(errU, ErrIperfOutput) {
			t.Errorf("%s: ParseIperfUDP error %v, want ErrIperfOutput", name, errU)
		}
		if !strings.HasPrefix(name, "udp") && !errors.Is(errT, ErrIperfOutput) {
			t.Errorf("%s: ParseIperfTCP error %v, want ErrIperfOutput", name, errT)
		}
	}
	_, err := ParseIperfTCP([]byte(`{"error":"the server is busy running a test. try again later"}`))
	if err == nil || !strings.Contains(err.Error(), "server is busy") {
		t.Fatalf("iperf3's own message should be in the error: %v", err)
	}
}

const pingOut = `PING 10.242.0.2 (10.242.0.2) 56(84) bytes of data.
64 bytes from 10.242.0.2: icmp_seq=1 ttl=64 time=0.400 ms
64 bytes from 10.242.0.2: icmp_seq=2 ttl=64 time=0.200 ms
64 bytes from 10.242.0.2: icmp_seq=4 ttl=64 time=1.50 ms
64 bytes from 10.242.0.2: icmp_seq=5 ttl=64 time=0.300 ms

--- 10.242.0.2 ping statistics ---
5 packets transmitted, 4 received, 20% packet loss, time 41ms
rtt min/avg/max/mdev = 0.200/0.600/1.500/0.524 ms
`

func TestParsePing(t *testing.T) {
	st, err := ParsePing(pingOut)
	if err != nil {
		t.Fatal(err)
	}
	want := PingStats{Sent: 5, Received: 4, MinMs: 0.2, AvgMs: 0.6, P50Ms: 0.3, P99Ms: 1.5, MaxMs: 1.5}
	if st.Sent != want.Sent || st.Received != want.Received || st.MinMs != want.MinMs || math.Abs(st.AvgMs-want.AvgMs) > 1e-9 ||
		st.P50Ms != want.P50Ms || st.P99Ms != want.P99Ms || st.MaxMs != want.MaxMs {
		t.Fatalf("got %+v, want %+v", st, want)
	}
}

func TestParsePingP99OfMany(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 200; i++ { // 0.01 .. 2.00 ms
		fmt.Fprintf(&b, "64 bytes from 10.0.0.2: icmp_seq=%d ttl=64 time=%.2f ms\n", i, float64(i)/100)
	}
	st, err := ParsePing(b.String())
	if err != nil {
		t.Fatal(err)
	}
	// Nearest rank: the 198th of 200 values.
	if st.P99Ms != 1.98 || st.Received != 200 || st.Sent != 200 {
		t.Fatalf("got %+v, want p99 1.98 ms of 200 replies", st)
	}
}

func TestParsePingErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"all lost":  "PING x\n\n--- x ping statistics ---\n5 packets transmitted, 0 received, 100% packet loss\n",
		"bad time":  "64 bytes from x: icmp_seq=1 ttl=64 time=abc ms\n",
		"neg time":  "64 bytes from x: icmp_seq=1 ttl=64 time=-1 ms\n",
		"nan time":  "64 bytes from x: icmp_seq=1 ttl=64 time=NaN ms\n",
		"unreached": "From 10.0.0.1 icmp_seq=1 Destination Host Unreachable\n",
	} {
		if _, err := ParsePing(in); !errors.Is(err, ErrPingOutput) {
			t.Errorf("%s: error %v, want ErrPingOutput", name, err)
		}
	}
}

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tpeercloud\nVmPeak:\t  900000 kB\nVmHWM:\t   14952 kB\nVmRSS:\t   14000 kB\n"
	v, err := ParseVmHWM([]byte(status))
	if err != nil || v != 14952*1024 {
		t.Fatalf("got %d, %v; want %d", v, err, 14952*1024)
	}
	for _, bad := range []string{"", "VmRSS:\t 5 kB\n", "VmHWM:\t x kB\n", "VmHWM:\t 5 MB\n", "VmHWM:\t -5 kB\n", "VmHWM:\t 99999999999999999999 kB\n"} {
		if _, err := ParseVmHWM([]byte(bad)); !errors.Is(err, ErrProcFile) {
			t.Errorf("%q: error %v, want ErrProcFile", bad, err)
		}
	}
}

func TestParseCPUTicks(t *testing.T) {
	// Field 2 holds spaces and a ')' to trip naive splitting; utime=250,
	// stime=125.
	stat := "4242 (we ird) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 125 0 0 20 0 9 0 100 0 0\n"
	v, err := ParseCPUTicks([]byte(stat))
	if err != nil || v != 375 {
		t.Fatalf("got %d, %v; want 375", v, err)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2", "4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 u 125", "1 x S 1 2 3 4 5 6 7 8 9 10 11 12 13"} {
		if _, err := ParseCPUTicks([]byte(bad)); !errors.Is(err, ErrProcFile) {
			t.Errorf("%q: error %v, want ErrProcFile", bad, err)
		}
	}
}

func FuzzParsers(f *testing.F) {
	for _, s := range []string{iperfTCPJSON, iperfUDPJSON, iperfUDPOldJSON, pingOut, "VmHWM: 1 kB", "1 (a) S 1 2 3 4 5 6 7 8 9 10 11 12"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseIperfTCP(b)
		ParseIperfUDP(b)
		if st, err := ParsePing(string(b)); err == nil && (st.P99Ms < st.P50Ms || st.MaxMs < st.P99Ms || st.Received == 0) {
			t.Fatalf("inconsistent ping stats %+v", st)
		}
		ParseVmHWM(b)
		ParseCPUTicks(b)
	})
}
