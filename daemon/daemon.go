// Package daemon assembles a running peercloud node from a validated
// config.Config: the identity and algorithms, the TUN/TAP device and its
// configuration, the UDP socket, the data-plane pipeline and the control
// goroutine, and the orderly shutdown of all of them. It is the wiring the
// command line calls; the logic lives in the packages it wires.
package daemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/config"
	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/hooks"
	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/udpio"
	"github.com/peercloud/peercloud/wire"
)

// HandshakeConfig builds the handshake configuration (identity, trusted
// keys, measured algorithm speeds, a fresh node id) from cfg.
func HandshakeConfig(cfg *config.Config, log *zap.Logger) (*handshake.Config, error) {
	var (
		id  *handshake.Identity
		err error
	)
	switch {
	case cfg.Crypto.PrivateKey != "" && cfg.Crypto.PublicKey != "":
		id, err = handshake.ParseKeyPair(cfg.Crypto.PrivateKey, cfg.Crypto.PublicKey)
	case cfg.Crypto.PrivateKey != "":
		id, err = handshake.ParsePrivateKey(cfg.Crypto.PrivateKey)
	case cfg.Crypto.Password != "":
		id = handshake.IdentityFromPassword(cfg.Crypto.Password)
	default:
		err = errors.New("either crypto.private-key or crypto.password must be set")
	}
	if err != nil {
		return nil, fmt.Errorf("crypto: %w", err)
	}
	hc := &handshake.Config{Identity: id, Extended: true, Logger: log}
	for _, s := range cfg.Crypto.TrustedKeys {
		k, err := handshake.ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("crypto.trusted-keys: %q: %w", s, err)
		}
		hc.Trusted = append(hc.Trusted, k)
	}
	if len(hc.Trusted) == 0 {
		log.Info("trusted keys not set, trusting only own public key", zap.Stringer("public_key", id.Public()))
	}
	algs, plain, err := aead.ParseAlgorithms(cfg.Crypto.Algorithms)
	if err != nil {
		return nil, fmt.Errorf("crypto.algorithms: %w", err)
	}
	hc.AllowPlain = plain
	if plain {
		log.Warn("crypto settings allow unencrypted connections")
	}
	hc.Algorithms = handshake.MeasureAlgorithms(algs, handshake.SpeedTestDuration)
	speeds := make([]zap.Field, 0, len(hc.Algorithms)+1)
	speeds = append(speeds, zap.String("aes_gcm", aead.AESGCMImplementation()))
	for _, a := range hc.Algorithms {
		speeds = append(speeds, zap.Float32(a.Alg.String(), a.Speed))
	}
	log.Info("crypto speeds (MB/s)", speeds...)
	if _, err := rand.Read(hc.NodeID[:]); err != nil {
		return nil, fmt.Errorf("node id: %w", err)
	}
	return hc, nil
}

// Run runs a node until ctx is done, then shuts it down in order: tell the
// peers (close messages), stop the data plane, run ifdown.
func Run(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	return RunWith(ctx, cfg, log, Options{})
}

// RunWith is Run with the system integration's hooks (see Options).
func RunWith(ctx context.Context, cfg *config.Config, log *zap.Logger, opts Options) error {
	hc, err := HandshakeConfig(cfg, log)
	if err != nil {
		return err
	}
	keyLog, err := openKeyLog(os.Getenv(KeyLogEnv), log)
	if err != nil {
		return err
	}
	if keyLog != nil {
		defer keyLog.Close()
		hc.KeyLog = keyLog
	}
	listen, err := cfg.ListenAddr()
	if err != nil {
		return err
	}
	claims := make([]wire.Range, 0, len(cfg.Claims)+1)
	for _, s := range cfg.Claims {
		r, err := wire.ParseRange(s)
		if err != nil {
			return fmt.Errorf("claims: %q: %w", s, err)
		}
		claims = append(claims, r)
	}
	peers, err := cfg.PeerAddresses()
	if err != nil {
		return err
	}
	var advertise []netip.AddrPort
	for _, s := range cfg.AdvertiseAddresses {
		ap, err := config.ParseListen(s, listen.Port())
		if err != nil {
			return fmt.Errorf("advertise-addresses: %q: %w", s, err)
		}
		advertise = append(advertise, ap)
	}

	// The device.
	typ := tunio.TUN
	if cfg.Device.Type == config.DeviceTAP {
		typ = tunio.TAP
	}
	// The small-packet lane takes one more device queue and one more
	// socket (pipeline.Config.SmallLane).
	lane := !cfg.Peercloud.NoSmallLane
	tunOpts := tunio.Options{Name: cfg.Device.Name, Type: typ, Path: cfg.Device.Path, Logger: log,
		MultiQueue: max(cfg.Peercloud.TunQueues, 1) + btoi(lane)}
	if cfg.Peercloud.NoTunOffload {
		tunOpts.DisableOffloads = tunio.OffloadVnetHdr
	}
	dev, err := tunio.Open(tunOpts)
	if err != nil && lane {
		// A persistent device made without IFF_MULTI_QUEUE takes one queue.
		log.Warn("small-packet lane off: the device did not open with another queue", zap.Error(err))
		lane, tunOpts.MultiQueue = false, cfg.Peercloud.TunQueues
		dev, err = tunio.Open(tunOpts)
	}
	if err != nil {
		return fmt.Errorf("opening the device: %w", err)
	}
	devClosed := false
	defer func() {
		if !devClosed {
			dev.Close()
		}
	}()
	log.Info("opened device", zap.String("ifname", dev.Name()), zap.Stringer("type", typ))
	hookScripts := newHookSource(cfg) // a reload may change the scripts
	hkCfg := hooks.FromConfig(cfg, log.Named("hooks"))
	hkCfg.Script = hookScripts.script
	hk := hooks.New(hkCfg)
	defer hk.Close() // runs vpn_shutdown and waits for the scripts
	hk.SetIfName(dev.Name())
	hk.Fire(hooks.DeviceSetup, nil)
	devCfg := tunio.Config{TxQueueLen: cmp.Or(cfg.Peercloud.DeviceQueueLen, config.DefaultDeviceQueueLen)}
	if cfg.IP != "" {
		p, err := config.ParseDeviceIP(cfg.IP)
		if err != nil {
			return fmt.Errorf("ip: %w", err)
		}
		devCfg.Addr = p
		if typ == tunio.TUN && cfg.AutoClaim {
			r := wire.Range{Base: wire.AddressFromIP(p.Addr()), PrefixLen: 32}
			log.Info("auto-claiming the interface address", zap.Stringer("claim", r))
			claims = append(claims, r)
		}
	}
	if err := dev.Configure(devCfg); err != nil {
		return fmt.Errorf("configuring %s: %w", dev.Name(), err)
	}
	if cfg.Ifup != "" {
		runHook(ctx, log, "ifup", cfg.Ifup, dev.Name())
	}
	defer func() {
		if cfg.Ifdown != "" {
			runHook(context.Background(), log, "ifdown", cfg.Ifdown, dev.Name())
		}
	}()
	hk.Fire(hooks.DeviceConfigured, nil)

	// The socket.
	shards, err := listenShards(listen, max(cfg.Peercloud.UDPShards, 1)+btoi(lane), cfg.Peercloud, log)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	laneState := "off"
	if lane {
		laneState = steerSmall(dev, shards, log)
		laneProcs(os.Getenv)
	}
	conn := shards[0]
	conns := make([]udpio.Conn, len(shards))
	for i, s := range shards {
		conns[i] = s
	}
	closeConns := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	uo := conn.Offloads()
	log.Info("listening", zap.Stringer("addr", conn.LocalAddr()))
	log.Info("data plane offloads", zap.Stringer("tun", dev.Offloads()), zap.Int("tun-queues", len(dev.Queues())),
		zap.Bool("udp-gso", uo.GSO), zap.Bool("udp-gro", uo.GRO), zap.Int("udp-shards", len(conns)),
		zap.String("small-lane", laneState), zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)))
	ops, err := startOpsData(cfg, log, dev.Name(), conn.LocalAddr(), hc.Identity.Public().String(), hk)
	if err != nil {
		closeConns()
		return err
	}
	defer ops.close()
	privileged := func(f func()) { f() }
	if opts.Setup != nil {
		p, err := opts.Setup(dev.Name())
		if err != nil {
			closeConns()
			return err
		}
		if p != nil {
			privileged = p
		}
	}

	// Data plane and control plane.
	mode := cfg.Mode.Effective(cfg.Device.Type)
	log.Info("forwarding mode", zap.Stringer("mode", mode))
	routes := &kernelRoutes{dev: dev, own: devCfg.Addr, log: log}
	pcfg := pipelineConfig(cfg, typ, dev.MTU())
	pcfg.SmallLane = lane
	pl := pipeline.NewMulti(pcfg, dev.Queues(), conns, log.Named("data"))
	devClosed = true // the pipeline owns the device and the socket now
	node, err := control.New(control.Config{
		Handshake:   hc,
		Peers:       peers,
		Claims:      claims,
		PeerTimeout: int(cfg.PeerTimeout / time.Second),
		Keepalive:   int(cfg.KeepaliveInterval() / time.Second),
		TAP:         typ == tunio.TAP,
		Learning:    mode == config.ModeSwitch,
		Flood:       mode == config.ModeSwitch || mode == config.ModeHub,
		RoutesChanged: func(prefixes []netip.Prefix) {
			if !cfg.Peercloud.NoRoutes && typ == tunio.TUN {
				privileged(func() { routes.sync(prefixes) })
			}
		},
		ListenAddr: conn.LocalAddr(),
		Advertise:  advertise,
		Relay:      !cfg.Peercloud.NoRelay,
		Events:     hk.PeerEvent,
		Log:        log.Named("control"),
	}, pl)
	if err != nil {
		pl.Close()
		return err
	}
	pl.Start()
	if err := ops.attach(ctx, node, pl); err != nil {
		pl.Close()
		pl.Wait()
		return err
	}
	// UPnP port forwarding in the background; never stops the daemon.
	lease := time.Duration(cfg.Peercloud.PortForwardingLease) * time.Second
	portMap := startPortMapping(ctx, cfg.PortForwarding, conn.LocalAddr(), lease, dev.Name(), node, log.Named("portmap"))
	node.Start(ctx, time.Now())
	stopBeacons := startBeacons(ctx, cfg.Beacon, node, log)
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	log.Info("vpn started", zap.String("ifname", dev.Name()))
	if opts.Started != nil {
		opts.Started(&Handle{node: node, ifname: dev.Name(), tap: typ == tunio.TAP, log: log, cfg: cfg, hooks: hookScripts})
	}
	hk.Fire(hooks.VPNStarted, nil)
	runErr := node.Run(ctx, ticker.C)
	stopBeacons() // before the data plane stops; removes the beacon file
	log.Info("shutting down")
	hk.Fire(hooks.VPNShutdown, nil)
	portMap.Close() // removes the mapping from the router
	closeErr := pl.Close()
	pl.Wait()
	if runErr != nil {
		return runErr
	}
	if closeErr != nil && !errors.Is(closeErr, os.ErrClosed) {
		log.Debug("closing the data plane", zap.Error(closeErr))
	}
	return nil
}

// KeyLogEnv names the environment variable with the path of a file to
// append every session key to (handshake.Config.KeyLog), for debugging and
// for tests that prove who can read what. Anyone who can read the file can
// decrypt the traffic.
const KeyLogEnv = "PEERCLOUD_KEYLOG"

// openKeyLog opens the key log at path for appending (created with mode
// 0600) and warns that session keys go there; an empty path means no key
// log (nil, nil).
func openKeyLog(path string, log *zap.Logger) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the key log (%s): %w", KeyLogEnv, err)
	}
	log.Warn("writing session keys to the key log: anyone who can read it can decrypt the traffic; for debugging only",
		zap.String("path", path), zap.String("set_by", KeyLogEnv))
	return f, nil
}

// kernelRoutes keeps kernel routes through the device for the prefixes
// peers claim, except those the device's own prefix already covers (the
// kernel routes those itself). VpnCloud leaves this to the user (its
// issues #10 and #48).
type kernelRoutes struct {
	dev       *tunio.Tun
	own       netip.Prefix
	log       *zap.Logger
	installed []netip.Prefix
}

func (k *kernelRoutes) sync(want []netip.Prefix) {
	var keep []netip.Prefix
	for _, p := range want {
		if k.own.IsValid() && k.own.Bits() <= p.Bits() && k.own.Contains(p.Addr()) {
			continue
		}
		if slices.Contains(k.installed, p) {
			keep = append(keep, p)
			continue
		}
		if err := k.dev.AddRoute(p); err != nil {
			k.log.Warn("cannot install route for a claimed prefix", zap.Stringer("prefix", p), zap.Error(err))
			continue
		}
		keep = append(keep, p)
		k.log.Info("installed route", zap.Stringer("prefix", p), zap.String("dev", k.dev.Name()))
	}
	for _, p := range k.installed {
		if slices.Contains(keep, p) {
			continue
		}
		if err := k.dev.DelRoute(p); err != nil {
			k.log.Debug("removing route", zap.Stringer("prefix", p), zap.Error(err))
		} else {
			k.log.Info("removed route", zap.Stringer("prefix", p), zap.String("dev", k.dev.Name()))
		}
	}
	k.installed = keep
}

// pipelineConfig is the data plane's configuration for a device of type
// typ and MTU mtu.
func pipelineConfig(cfg *config.Config, typ tunio.Type, mtu int) pipeline.Config {
	pcfg := pipeline.Config{MaxPacket: mtu + 18, SwitchTimeout: cfg.SwitchTimeout}
	if cfg.Peercloud.NoDeviceYield {
		pcfg.YieldBytes = -1
	}
	if cfg.Peercloud.NoLaneLinger {
		pcfg.SmallLaneLinger = -1
	}
	if typ == tunio.TUN && !cfg.Peercloud.NoRelay {
		// Relayed datagrams are longer: packets that fill the MTU get an
		// ICMP "too big" for relayed destinations instead of being
		// fragmented on both hops.
		pcfg.RelayMTU = mtu - pipeline.RelayOverhead
	}
	return pcfg
}

// udpOptions are the socket options pc asks for (offloads, buffer size;
// zero buffer: udpio's default).
func udpOptions(pc config.Peercloud, log *zap.Logger) udpio.Options {
	return udpio.Options{Logger: log, NoGSO: pc.NoUDPGSO, NoGRO: pc.NoUDPGRO,
		RecvBuffer: pc.SocketBuffer, SendBuffer: pc.SocketBuffer}
}

// listenShards opens the UDP socket: one, or with n > 1 that many
// SO_REUSEPORT shards on one port.
func listenShards(listen netip.AddrPort, n int, pc config.Peercloud, log *zap.Logger) ([]*udpio.Socket, error) {
	opts := udpOptions(pc, log)
	if n > 1 {
		return udpio.ListenShardsAddrPort(listen, n, opts)
	}
	s, err := udpio.ListenAddrPort(listen, opts)
	if err != nil {
		return nil, err
	}
	return []*udpio.Socket{s}, nil
}

func runHook(ctx context.Context, log *zap.Logger, name, script, ifname string) {
	out, err := tunio.RunHook(ctx, script, []string{"IFNAME=" + ifname})
	if err != nil {
		log.Warn("hook failed", zap.String("hook", name), zap.Error(err), zap.ByteString("output", out))
		return
	}
	log.Debug("hook ran", zap.String("hook", name), zap.ByteString("output", out))
}

// steerSmall has the kernel send small packets to the first device queue
// and small datagrams to the first socket, the small-packet lane. Where a
// program cannot be attached (loading the device's needs CAP_BPF or
// CAP_SYS_ADMIN), the kernel spreads flows over that queue or socket as
// over the others: the lane still carries everything, in order per flow,
// but small packets there may wait behind bulk data again. It returns
// "steered", or "unsteered" when either program failed.
func steerSmall(dev *tunio.Tun, shards []*udpio.Socket, log *zap.Logger) string {
	devErr := dev.SteerSmall(pipeline.SmallPacket)
	sockErr := udpio.SteerSmall(shards, pipeline.SmallDatagram)
	if devErr != nil || sockErr != nil {
		log.Warn("small-packet lane: the kernel does not steer small packets to it",
			zap.NamedError("device", devErr), zap.NamedError("socket", sockErr))
		return "unsteered"
	}
	log.Info("small-packet lane", zap.Int("max-packet", pipeline.SmallPacket))
	return "steered"
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// baseProcs is the runtime's own GOMAXPROCS (the CPUs the process may use).
var baseProcs = runtime.GOMAXPROCS(0)

// laneProcs gives the Go scheduler at least two processors, unless the
// environment sets GOMAXPROCS: the small-packet lane's loop keeps one
// while it lingers (pipeline/laneloop.go), and lingers only with a second
// one for the rest. It gives no more than the CPUs otherwise. Until
// November 2026 it gave one more than the CPUs, so that a lane reader
// woken from the network poller would not wait for a processor behind
// the bulk lane (loaded ping 0.70–0.84 ms instead of 1.15–1.17, before
// the lane's loop); since the loop keeps its processor for real, the
// spare one only gives the scheduler an idle processor to wake threads
// for: lab, one TCP stream, three alternations, node CPU per GB
// 2.31–2.39 (a→b) and 2.06–2.12 s (b→a) with as many processors as
// CPUs against 2.48–2.57 and 2.25–2.55 with one more, the pings and
// the 64-byte rate within noise (docs/ARCHITECTURE.md).
func laneProcs(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(baseProcs, 2))
	}
}
