package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/peercloud/peercloud/pipeline"
	"github.com/peercloud/peercloud/stats"
)

// Source is where the figures come from; every function is called at
// scrape time from the HTTP server's goroutines and must be safe for that.
type Source struct {
	stats.Source
	// Rings reports the pipeline's ring occupancy (optional).
	Rings func() [6]pipeline.RingOccupancy
	// HooksDropped counts hook events dropped on a full queue (optional).
	HooksDropped func() uint64
}

var (
	descBytes = prometheus.NewDesc("peercloud_traffic_bytes_total",
		"Bytes carried, by layer (net: UDP datagrams, device: packets on the TUN/TAP device) and direction.",
		[]string{"layer", "direction"}, nil)
	descPackets = prometheus.NewDesc("peercloud_traffic_packets_total",
		"Packets carried, by layer (net: UDP datagrams, device: packets on the TUN/TAP device) and direction.",
		[]string{"layer", "direction"}, nil)
	descDrops = prometheus.NewDesc("peercloud_drops_total",
		"Packets dropped by the data plane, by reason.", []string{"reason"}, nil)
	descToControl = prometheus.NewDesc("peercloud_control_packets_total",
		"Packets the data plane handed to the control plane.", nil, nil)
	descFlooded = prometheus.NewDesc("peercloud_flooded_packets_total",
		"Device packets sent to every peer (switch and hub modes).", nil, nil)
	descRelayed = prometheus.NewDesc("peercloud_relayed_packets_total",
		"Relay messages this node forwarded from one peer to another.", nil, nil)
	descHandshakes = prometheus.NewDesc("peercloud_handshakes_total",
		"Handshakes completed into connected peers.", nil, nil)
	descRotations = prometheus.NewDesc("peercloud_key_rotations_total",
		"Rotated session keys installed (every 120 s per peer).", nil, nil)
	descDisconnects = prometheus.NewDesc("peercloud_disconnects_total",
		"Peers removed; reason timeout counts silent peers, other all the rest.", []string{"reason"}, nil)
	descInvalid = prometheus.NewDesc("peercloud_control_invalid_total",
		"Invalid control and handshake messages.", nil, nil)
	descStale = prometheus.NewDesc("peercloud_control_stale_total",
		"Messages from peers already replaced or removed.", nil, nil)
	descSendFailed = prometheus.NewDesc("peercloud_control_send_failed_total",
		"Control datagrams the socket refused.", nil, nil)
	descPeers = prometheus.NewDesc("peercloud_peers",
		"Connected peers.", nil, nil)
	descPeerBytes = prometheus.NewDesc("peercloud_peer_bytes_total",
		"Bytes exchanged with one peer since it connected.", []string{"peer", "direction"}, nil)
	descPeerPackets = prometheus.NewDesc("peercloud_peer_packets_total",
		"Packets exchanged with one peer since it connected.", []string{"peer", "direction"}, nil)
	descRingLen = prometheus.NewDesc("peercloud_ring_occupancy",
		"Batches queued in a pipeline ring (direction out: device to network, in: network to device).",
		[]string{"direction", "ring"}, nil)
	descRingCap = prometheus.NewDesc("peercloud_ring_capacity",
		"Capacity of a pipeline ring in batches.", []string{"direction", "ring"}, nil)
	descHooksDropped = prometheus.NewDesc("peercloud_hooks_dropped_total",
		"Hook events dropped because the hook queue was full.", nil, nil)
)

// Collector is a prometheus.Collector over a Source. Safe for concurrent
// use.
type Collector struct{ src Source }

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector reading src.
func NewCollector(src Source) (*Collector, error) {
	if src.Peers == nil || src.Data == nil {
		return nil, ErrNoSource
	}
	return &Collector{src: src}, nil
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBytes, descPackets, descDrops, descToControl, descFlooded, descRelayed,
		descHandshakes, descRotations, descDisconnects, descInvalid, descStale, descSendFailed, descPeers, descPeerBytes,
		descPeerPackets, descRingLen, descRingCap, descHooksDropped} {
		ch <- d
	}
}

// Collect reads the counters and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	v := c.src.Data()
	counter(descBytes, v.NetInBytes, "net", "in")
	counter(descBytes, v.NetOutBytes, "net", "out")
	counter(descBytes, v.DeviceInBytes, "device", "in")
	counter(descBytes, v.DeviceOutBytes, "device", "out")
	counter(descPackets, v.NetIn, "net", "in")
	counter(descPackets, v.NetOut, "net", "out")
	counter(descPackets, v.DeviceIn, "device", "in")
	counter(descPackets, v.DeviceOut, "device", "out")
	for _, d := range stats.Drops(v) {
		counter(descDrops, d.Count, d.Reason)
	}
	counter(descToControl, v.ToControl)
	counter(descFlooded, v.Flooded)
	counter(descRelayed, v.Relayed)
	if cc := c.src.Control; cc != nil {
		counter(descHandshakes, cc.Connected.Load())
		counter(descRotations, cc.Rotations.Load())
		timedOut, all := cc.TimedOut.Load(), cc.Disconnected.Load()
		counter(descDisconnects, timedOut, "timeout")
		counter(descDisconnects, all-min(all, timedOut), "other")
		counter(descInvalid, cc.Invalid.Load())
		counter(descStale, cc.Stale.Load())
		counter(descSendFailed, cc.SendFailed.Load())
	}
	peers := c.src.Peers()
	gauge(descPeers, len(peers))
	seen := make(map[string]bool, len(peers))
	for _, p := range peers {
		if p.Traffic == nil || seen[p.Addr] {
			continue
		}
		seen[p.Addr] = true
		counter(descPeerBytes, p.Traffic.InBytes.Load(), p.Addr, "in")
		counter(descPeerBytes, p.Traffic.OutBytes.Load(), p.Addr, "out")
		counter(descPeerPackets, p.Traffic.InPackets.Load(), p.Addr, "in")
		counter(descPeerPackets, p.Traffic.OutPackets.Load(), p.Addr, "out")
	}
	if c.src.Rings != nil {
		for _, r := range c.src.Rings() {
			gauge(descRingLen, r.Len, r.Direction, r.Ring)
			gauge(descRingCap, r.Cap, r.Direction, r.Ring)
		}
	}
	if c.src.HooksDropped != nil {
		counter(descHooksDropped, c.src.HooksDropped())
	}
}

// Server serves /metrics over HTTP.
//
// Concurrency: Serve returns a Server already serving on its own
// goroutine; Close shuts it down (waiting up to a few seconds for scrapes
// in flight) and waits for that goroutine. Close is idempotent.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
	once sync.Once
}

// Serve listens on addr (IP:port) and serves the metrics of src, plus the
// Go runtime's, on /metrics.
func Serve(addr string, src Source, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	coll, err := NewCollector(src)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(coll); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := &Server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", zap.Error(err))
		}
	}()
	log.Info("serving metrics", zap.Stringer("addr", ln.Addr()))
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close shuts the server down.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		<-s.done
	})
	if err != nil {
		return fmt.Errorf("metrics: shutdown: %w", err)
	}
	return nil
}
