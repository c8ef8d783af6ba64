// Command peercloud-bench measures peercloud — and, when their binaries are
// given, wireguard-go, Nebula and VpnCloud — side by side in network
// namespaces on this machine and writes results.json, results.md and
// results.svg. It needs root, iproute2, iputils-ping and iperf3.
//
//	sudo peercloud-bench --wireguard-go /usr/bin/wireguard-go --nebula /usr/bin/nebula --baseline nebula
//	sudo peercloud-bench --smoke
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/peercloud/peercloud/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// settings are the parsed command line.
type settings struct {
	peercloud, wireguardGo, wg, nebula, nebulaCert, vpncloud string
	ciphers, variants, compares                              []string
	duration                                                 time.Duration
	streams, pings, rounds                                   int
	smoke, verbose                                           bool
	out, baseline, prefix, congestion                        string
}

func parseFlags(args []string, stderr io.Writer) (*settings, error) {
	s := &settings{}
	fs := pflag.NewFlagSet("peercloud-bench", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.peercloud, "peercloud", "", "peercloud `binary` (default: build ./cmd/peercloud into a temp dir; run from the repository)")
	fs.StringVar(&s.wireguardGo, "wireguard-go", "", "wireguard-go `binary` to compare with (needs wg)")
	fs.StringVar(&s.wg, "wg", "wg", "the wg `tool` (Debian: wireguard-tools)")
	fs.StringVar(&s.nebula, "nebula", "", "nebula `binary` to compare with (needs nebula-cert)")
	fs.StringVar(&s.nebulaCert, "nebula-cert", "", "nebula-cert `tool` (default: beside --nebula, else from PATH)")
	fs.StringVar(&s.vpncloud, "vpncloud", "", "VpnCloud `binary` to compare with (same flags as peercloud, each cipher)")
	fs.StringArrayVar(&s.variants, "variant", nil, "also measure peercloud with extra flags, as `NAME=FLAGS` (contender peercloud-CIPHER-NAME), e.g. nooffload='--no-tun-offload --no-udp-gso --no-udp-gro'; repeatable")
	fs.StringArrayVar(&s.compares, "compare", nil, "also measure another peercloud build, as `NAME=BINARY` (contender peercloud-CIPHER-NAME, same flags), e.g. base=/tmp/peercloud-old; repeatable")
	fs.StringSliceVar(&s.ciphers, "ciphers", bench.Ciphers, "peercloud/VpnCloud `ciphers` to measure: aes128, aes256, chacha20, plain")
	fs.DurationVar(&s.duration, "duration", 5*time.Second, "length of each iperf3 test")
	fs.IntVar(&s.streams, "streams", 4, "streams of the parallel TCP test")
	fs.IntVar(&s.pings, "pings", 200, "pings at 10 ms interval, idle and under load")
	fs.StringVar(&s.congestion, "congestion", "", "TCP congestion control `name` to set in both namespaces, e.g. cubic or bbr (default: the host's)")
	fs.IntVar(&s.rounds, "rounds", 1, "measure every contender this many times, rotating their order, and report each figure's median (noisy machines: 3)")
	fs.BoolVar(&s.smoke, "smoke", false, "tiny run for CI: peercloud aes128 only, 1 s tests, 20 pings")
	fs.StringVar(&s.out, "out", "bench-results", "output `directory` for results.json, results.md, results.svg")
	fs.StringVar(&s.baseline, "baseline", "", "contender `name` the ratios are against, e.g. nebula, wireguard-go, peercloud-aes128")
	fs.BoolVarP(&s.verbose, "verbose", "v", false, "debug logging")
	fs.StringVar(&s.prefix, "netns-prefix", "pcbench", "`prefix` of the namespaces made (and of stale ones removed at start)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if s.congestion != "" && !bench.ValidCongestion(s.congestion) {
		return nil, fmt.Errorf("--congestion %q is not a congestion control name (e.g. cubic, bbr)", s.congestion)
	}
	if s.rounds < 1 {
		return nil, fmt.Errorf("--rounds must be at least 1, not %d", s.rounds)
	}
	if s.smoke {
		s.ciphers = []string{"aes128"}
		s.wireguardGo, s.nebula, s.vpncloud, s.variants, s.compares = "", "", "", nil, nil
	}
	for _, v := range s.variants {
		if _, _, err := bench.ParseVariant(v); err != nil {
			return nil, err
		}
	}
	for _, c := range s.compares {
		if _, _, err := bench.ParseCompare(c); err != nil {
			return nil, err
		}
	}
	if s.nebula != "" && s.nebulaCert == "" {
		s.nebulaCert = "nebula-cert"
		if beside := filepath.Join(filepath.Dir(s.nebula), "nebula-cert"); fileExists(beside) {
			s.nebulaCert = beside
		}
	}
	return s, nil
}

func (s *settings) options() bench.Options {
	o := bench.Options{Duration: s.duration, Streams: s.streams, PingCount: s.pings}
	if s.smoke {
		o = bench.SmokeOptions()
	} else {
		o.Rounds = s.rounds
	}
	o.Prefix = s.prefix
	o.Congestion = s.congestion
	return o
}

// contenders lists what to measure, peercloud first; peercloudBin is the
// peercloud binary to use.
func (s *settings) contenders(peercloudBin string) []bench.Contender {
	var cs []bench.Contender
	for _, c := range s.ciphers {
		cipher := strings.ToLower(strings.TrimSpace(c))
		cs = append(cs, bench.PeercloudContender(peercloudBin, cipher))
		for _, v := range s.variants {
			name, flags, _ := bench.ParseVariant(v) // checked in parseFlags
			cs = append(cs, bench.PeercloudVariant(peercloudBin, cipher, name, flags))
		}
		for _, c := range s.compares {
			name, bin, _ := bench.ParseCompare(c) // checked in parseFlags
			cs = append(cs, bench.PeercloudVariant(bin, cipher, name, nil))
		}
	}
	if s.wireguardGo != "" {
		cs = append(cs, bench.WireguardGoContender(s.wireguardGo, s.wg))
	}
	if s.nebula != "" {
		cs = append(cs, bench.NebulaContender(s.nebula, s.nebulaCert))
	}
	if s.vpncloud != "" {
		for _, c := range s.ciphers {
			cs = append(cs, bench.VpncloudContender(s.vpncloud, strings.ToLower(strings.TrimSpace(c))))
		}
	}
	return cs
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	s, err := parseFlags(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "peercloud-bench: %v\n", err)
		return 2
	}
	if err := bench.CheckRoot(); err != nil {
		fmt.Fprintf(stderr, "peercloud-bench: %v\n", err)
		return 1
	}
	// Check the tools before spending time on a build.
	if err := bench.CheckTools(nil); err != nil {
		fmt.Fprintf(stderr, "peercloud-bench: %v\n", err)
		return 1
	}
	level := zapcore.InfoLevel
	if s.verbose {
		level = zapcore.DebugLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(stderr), level))
	defer log.Sync()

	bin := s.peercloud
	if bin == "" {
		dir, err := os.MkdirTemp("", "peercloud-bench-bin-")
		if err != nil {
			fmt.Fprintf(stderr, "peercloud-bench: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "peercloud")
		log.Info("building peercloud", zap.String("to", bin))
		if out, err := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/peercloud").CombinedOutput(); err != nil {
			fmt.Fprintf(stderr, "peercloud-bench: building ./cmd/peercloud failed (run from the repository root, or pass --peercloud PATH): %v\n%s", err, out)
			return 1
		}
	}
	rep, err := bench.NewRunner(s.options(), log).Run(ctx, s.contenders(bin), s.baseline)
	if rep != nil && len(rep.Results) > 0 {
		files, werr := bench.WriteFiles(rep, s.out)
		if werr != nil {
			fmt.Fprintf(stderr, "peercloud-bench: %v\n", werr)
			return 1
		}
		fmt.Fprint(stdout, bench.Markdown(rep))
		fmt.Fprintf(stdout, "\nwrote %s, %s, %s\n", files.JSON, files.Markdown, files.SVG)
	}
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "peercloud-bench: interrupted; namespaces and processes removed")
		return 130
	case err != nil:
		fmt.Fprintf(stderr, "peercloud-bench: %v\n", err)
		return 1
	}
	for _, r := range rep.Results {
		if r.Failed() {
			fmt.Fprintf(stderr, "peercloud-bench: %s measured nothing: %s\n", r.Contender, strings.Join(r.Errors, "; "))
			return 1
		}
	}
	return 0
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
