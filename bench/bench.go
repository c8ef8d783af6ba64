// Package bench owns the benchmark harness: for each contender (peercloud
// with each cipher or plain text, and — when their binaries are given —
// wireguard-go, Nebula and VpnCloud) it builds a fresh pair of network
// namespaces joined by one veth pair (MTU 1500), starts one node in each,
// waits for the tunnel, measures it (iperf3 TCP both ways and with several
// streams, iperf3 64-byte UDP delivered packet rate, ping idle and under a
// saturating stream, peak RSS and CPU time of both nodes), stops everything
// and removes the topology. It writes the raw numbers as JSON, a Markdown
// table with ratios against a baseline contender and a hand-written SVG bar
// chart.
//
// The parsers (iperf3 JSON, ping output, /proc files) and the report writers
// are pure functions, tested without privileges; running contenders needs
// root.
package bench

import (
	"fmt"
	"strings"
	"time"
)

// Kind names a VPN implementation the harness knows how to set up.
type Kind string

// The known kinds.
const (
	KindPeercloud   Kind = "peercloud"
	KindWireguardGo Kind = "wireguard-go"
	KindNebula      Kind = "nebula"
	KindVpncloud    Kind = "vpncloud"
)

// Ciphers are the data ciphers peercloud and VpnCloud can be told to use,
// in VpnCloud's names.
var Ciphers = []string{"aes128", "aes256", "chacha20", "plain"}

// Contender is one VPN configuration under test.
type Contender struct {
	// Name identifies the contender in reports ("peercloud-aes128",
	// "wireguard-go"); unique within a run.
	Name string
	Kind Kind
	// Cipher is the --algorithm for peercloud and VpnCloud; empty otherwise.
	Cipher string
	// Bin is the path of the VPN's executable.
	Bin string
	// Helper is the path of the setup tool: `wg` for wireguard-go,
	// `nebula-cert` for Nebula; unused otherwise.
	Helper string
	// Extra are command-line flags added to peercloud's (a variant such
	// as offloads turned off); unused for the other kinds.
	Extra []string
}

// PeercloudContender returns the contender for peercloud at bin with cipher.
func PeercloudContender(bin, cipher string) Contender {
	return Contender{Name: "peercloud-" + cipher, Kind: KindPeercloud, Cipher: cipher, Bin: bin}
}

// PeercloudVariant returns the contender "peercloud-CIPHER-VARIANT": peercloud
// at bin with cipher and the extra flags, e.g. variant "nooffload" with
// --no-tun-offload --no-udp-gso --no-udp-gro.
func PeercloudVariant(bin, cipher, variant string, extra []string) Contender {
	c := PeercloudContender(bin, cipher)
	c.Name += "-" + variant
	c.Extra = append([]string(nil), extra...)
	return c
}

// ParseVariant parses a --variant argument "NAME=FLAGS": NAME of lower-case
// letters, digits and dashes, FLAGS peercloud flags separated by spaces,
// each starting with "-" (e.g. "nogso=--no-udp-gso").
func ParseVariant(s string) (name string, flags []string, err error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", nil, fmt.Errorf("variant %q: want NAME=FLAGS: %w", s, ErrConfig)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "", nil, fmt.Errorf("variant %q: name may hold a-z, 0-9 and -: %w", s, ErrConfig)
		}
	}
	flags = strings.Fields(rest)
	for i, f := range flags {
		if !strings.HasPrefix(f, "-") && (i == 0 || !strings.HasPrefix(flags[i-1], "-")) {
			return "", nil, fmt.Errorf("variant %q: %q is not a flag or a flag's value: %w", s, f, ErrConfig)
		}
	}
	return name, flags, nil
}

// ParseCompare parses a --compare argument "NAME=BINARY": NAME as for
// ParseVariant, BINARY a non-empty path of another peercloud build (an
// older commit, say) measured with the same flags.
func ParseCompare(s string) (name, bin string, err error) {
	name, bin, ok := strings.Cut(s, "=")
	if !ok || name == "" || bin == "" {
		return "", "", fmt.Errorf("compare %q: want NAME=BINARY: %w", s, ErrConfig)
	}
	if _, _, err := ParseVariant(name + "="); err != nil {
		return "", "", fmt.Errorf("compare %q: name may hold a-z, 0-9 and -: %w", s, ErrConfig)
	}
	return name, bin, nil
}

// VpncloudContender returns the contender for VpnCloud at bin with cipher.
func VpncloudContender(bin, cipher string) Contender {
	return Contender{Name: "vpncloud-" + cipher, Kind: KindVpncloud, Cipher: cipher, Bin: bin}
}

// WireguardGoContender returns the contender for wireguard-go at bin,
// configured with the `wg` tool at wg.
func WireguardGoContender(bin, wg string) Contender {
	return Contender{Name: "wireguard-go", Kind: KindWireguardGo, Bin: bin, Helper: wg}
}

// NebulaContender returns the contender for Nebula at bin, with
// certificates made by nebula-cert at cert.
func NebulaContender(bin, cert string) Contender {
	return Contender{Name: "nebula", Kind: KindNebula, Bin: bin, Helper: cert}
}

// Options are the measurement settings; the zero value of each field means
// its documented default.
type Options struct {
	// Duration of each iperf3 test. Zero means 5 s.
	Duration time.Duration
	// Streams for the parallel TCP test (iperf3 -P). Zero means 4.
	Streams int
	// PingCount is the number of pings at 10 ms interval, idle and under
	// load. Zero means 200.
	PingCount int
	// TunnelTimeout bounds the wait for the first ping through the tunnel.
	// Zero means 20 s.
	TunnelTimeout time.Duration
	// Prefix of the namespace names. Zero means "pcbench". Namespaces
	// with this prefix left by an interrupted run are removed at start.
	Prefix string
	// Congestion is the TCP congestion control set in both namespaces
	// (e.g. "cubic", "bbr"); empty keeps the host's, which new namespaces
	// inherit. It decides how long the standing queue under load gets.
	Congestion string
	// Rounds is how many times every contender is measured, the order of
	// the contenders rotating each round; the report holds each figure's
	// median (MergeRounds). Zero means 1.
	Rounds int
}

func (o Options) withDefaults() Options {
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Streams <= 0 {
		o.Streams = 4
	}
	if o.PingCount <= 0 {
		o.PingCount = 200
	}
	if o.TunnelTimeout <= 0 {
		o.TunnelTimeout = 20 * time.Second
	}
	if o.Prefix == "" {
		o.Prefix = "pcbench"
	}
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	return o
}

// SmokeOptions are the tiny settings of --smoke: 1 s tests, 20 pings.
func SmokeOptions() Options {
	return Options{Duration: time.Second, Streams: 2, PingCount: 20, TunnelTimeout: 15 * time.Second}
}

// NodeStats are the resource figures of one node process.
type NodeStats struct {
	PID int `json:"pid"`
	// PeakRSSBytes is VmHWM from /proc/PID/status just before the stop.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// CPUSeconds is utime+stime from /proc/PID/stat over the whole run
	// (start, handshake and all measurements).
	CPUSeconds float64 `json:"cpu_seconds"`
	// PhaseCPUSeconds is the CPU time spent during each measurement.
	PhaseCPUSeconds map[string]float64 `json:"phase_cpu_seconds,omitempty"`
}

// Result holds everything measured for one contender. A measurement that
// failed is nil and its error is in Errors; the others still count.
type Result struct {
	Contender string `json:"contender"`
	Kind      Kind   `json:"kind"`
	Cipher    string `json:"cipher,omitempty"`
	Version   string `json:"version,omitempty"`
	// TunnelMTU is the MTU of the tunnel device in namespace a.
	TunnelMTU int `json:"tunnel_mtu,omitempty"`
	// TunnelUpSeconds is the time from starting the nodes to the first
	// ping reply through the tunnel.
	TunnelUpSeconds float64    `json:"tunnel_up_seconds"`
	TCPAtoB         *TCPResult `json:"tcp_a_to_b,omitempty"`
	TCPBtoA         *TCPResult `json:"tcp_b_to_a,omitempty"`
	TCPParallel     *TCPResult `json:"tcp_parallel,omitempty"`
	UDP64           *UDPResult `json:"udp_64,omitempty"`
	// UDP64Sustained is the highest 64-byte rate carried with at most
	// 1 % loss (a search below the unthrottled test's offered rate).
	UDP64Sustained *SustainedUDP `json:"udp_64_sustained,omitempty"`
	PingIdle       *PingStats    `json:"ping_idle,omitempty"`
	PingLoad       *PingStats    `json:"ping_load,omitempty"`
	// LoadStream is the TCP stream that saturated the tunnel during PingLoad.
	LoadStream *TCPResult           `json:"load_stream,omitempty"`
	Nodes      map[string]NodeStats `json:"nodes,omitempty"` // "a", "b"
	Errors     []string             `json:"errors,omitempty"`
}

// Failed reports whether nothing at all was measured.
func (r *Result) Failed() bool {
	return r.TCPAtoB == nil && r.TCPBtoA == nil && r.TCPParallel == nil && r.UDP64 == nil && r.UDP64Sustained == nil && r.PingIdle == nil
}

// Host describes the machine a run was made on.
type Host struct {
	Kernel     string `json:"kernel"`
	CPUs       int    `json:"cpus"`
	LoadBefore string `json:"load_before"` // /proc/loadavg
	LoadAfter  string `json:"load_after"`
	Iperf3     string `json:"iperf3"`
	// TCPCongestion is the congestion control the TCP tests ran with
	// (the host's; new namespaces inherit it).
	TCPCongestion string `json:"tcp_congestion_control,omitempty"`
	GoarchGoos    string `json:"goarch_goos"`
	Description   string `json:"description,omitempty"`
}

// Report is one run of the harness: settings, host and results.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Host     Host      `json:"host"`
	Options  struct {
		DurationSeconds float64 `json:"duration_seconds"`
		Streams         int     `json:"streams"`
		PingCount       int     `json:"ping_count"`
		Rounds          int     `json:"rounds"`
	} `json:"options"`
	Baseline string            `json:"baseline,omitempty"`
	Results  []Result          `json:"results"`
	Ratios   map[string]Ratios `json:"ratios,omitempty"`
	// RoundRatios holds, with a baseline and several rounds, the spread
	// of each round's own ratios per contender and figure.
	RoundRatios map[string]map[string]RatioSpread `json:"round_ratios,omitempty"`
	// Targets checks every peercloud contender against the performance
	// targets whose references ran (ComputeTargets).
	Targets []TargetResult `json:"targets,omitempty"`
	// Rounds holds every round's own results when there was more than
	// one; Results then holds their medians.
	Rounds [][]Result `json:"rounds,omitempty"`
}

// ValidCongestion reports whether name looks like a kernel congestion
// control module name (lower-case letters, digits, underscores).
func ValidCongestion(name string) bool {
	if name == "" || len(name) > 15 { // TCP_CA_NAME_MAX is 16 with the NUL
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// validate checks contenders for a run.
func validate(cs []Contender) error {
	if len(cs) == 0 {
		return fmt.Errorf("%w: no contenders", ErrConfig)
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.Name] {
			return fmt.Errorf("%w: contender %q twice", ErrConfig, c.Name)
		}
		seen[c.Name] = true
		switch c.Kind {
		case KindPeercloud, KindVpncloud:
			if !validCipher(c.Cipher) {
				return fmt.Errorf("%w: %s: unknown cipher %q (known: %s)", ErrConfig, c.Name, c.Cipher, strings.Join(Ciphers, ", "))
			}
		case KindWireguardGo, KindNebula:
			if c.Helper == "" {
				return fmt.Errorf("%w: %s needs its setup tool's path", ErrConfig, c.Name)
			}
		default:
			return fmt.Errorf("%w: %s: unknown kind %q", ErrConfig, c.Name, c.Kind)
		}
		if c.Bin == "" {
			return fmt.Errorf("%w: %s: no binary path", ErrConfig, c.Name)
		}
	}
	return nil
}

func validCipher(c string) bool {
	for _, k := range Ciphers {
		if c == k {
			return true
		}
	}
	return false
}
