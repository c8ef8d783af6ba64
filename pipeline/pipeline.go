package pipeline

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/aead"
	"github.com/peercloud/peercloud/ring"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/udpio"
	"github.com/peercloud/peercloud/wire"
)

// ControlPacket is a packet the data plane hands to the control plane. Data
// is a private copy owned by the receiver.
type ControlPacket struct {
	From netip.AddrPort
	// Peer is the sending peer, or nil when the datagram came from an address
	// that is not a peer (then it is a handshake message).
	Peer *Peer
	// Init is true for handshake messages: Data is the whole datagram,
	// starting with wire.InitByte. Otherwise Data is the authenticated
	// plaintext, starting with the message type byte.
	Init bool
	// Unknown is true for a notice that an encrypted-looking datagram came
	// from an address that is no peer (Data is nil).
	Unknown bool
	// Relayed is true for a handshake message (Init) that came through
	// the relay From (a peer) from the node RelayNode.
	Relayed   bool
	RelayNode wire.NodeID
	Data      []byte
}

// SmallPacket is the largest packet (IP packet or Ethernet frame) the
// kernel should steer to the small-packet lane's device queue
// (Config.SmallLane): pings, TCP ACKs, DNS, VoIP and game traffic; and
// SmallDatagram the largest datagram payload that can carry one sealed,
// possibly relayed.
const (
	SmallPacket   = 256
	SmallDatagram = SmallPacket + headroom + aead.TagLen + RelayOverhead
)

// Config sizes the pipeline. Zero values pick the defaults.
type Config struct {
	// BatchSize is the number of packets per batch (default 64).
	BatchSize int
	// Batches is the number of batches per direction (default 8: enough
	// for a reader, the crypto workers and the writer to overlap on a few
	// cores; more only queues more packets, adding latency under load).
	Batches int
	// Workers is the number of crypto workers per direction
	// (default GOMAXPROCS).
	Workers int
	// MaxPacket is the largest IP packet or frame the device carries
	// (default 1500 + 18, enough for a TAP frame with a VLAN tag).
	MaxPacket int
	// ControlQueue is the capacity of the channel to the control plane
	// (default 256).
	ControlQueue int
	// SwitchTimeout is how long a learned address stays valid in switch
	// mode (default 300 s, VpnCloud's).
	SwitchTimeout time.Duration
	// MaxLearned bounds the learned-address table (default 65536).
	MaxLearned int
	// InlineMax is the largest batch a reader seals or opens and writes
	// itself when nothing earlier is pending (default 8; negative: never,
	// every batch goes through the crypto workers and the writer).
	InlineMax int
	// InlineBytes also lets a reader finish a batch itself, however many
	// packets it holds, when they carry at most this many bytes in all
	// (default 16 KiB; negative: only InlineMax counts). A batch of small
	// packets costs little crypto, so two goroutine handoffs would cost
	// more than the work they spread (64-byte UDP: 1.37x packets
	// delivered).
	InlineBytes int
	// YieldBytes makes the device writer give up its core for a moment
	// (Yield) after writing a batch of at least YieldPackets packets
	// that average at most YieldBytes bytes (defaults 16 and 256;
	// negative YieldBytes: never). The kernel delivers what is written
	// to local sockets inside the write and wakes their readers onto the
	// writer's core (a synchronous wake-up); without the yield a reader
	// of small datagrams waits there for the rest of the writer's time
	// slice while its socket overflows (2-core machine, 64-byte UDP
	// flood: ~1.3x packets delivered). Batches of bulk data do not
	// yield, nor the short batches of a TCP sender's ACKs.
	YieldBytes   int
	YieldPackets int
	// Yield is what YieldBytes calls: by default a short sleep while the
	// node competes for its cores (corePause); tests count.
	Yield func()
	// SmallLane makes the first device queue and the first socket shard
	// a lane of their own for small packets: their readers hand batches
	// to crypto workers, rings and writers of their own, so nothing read
	// there waits behind the bulk data read from the other queues and
	// shards (a ping or a TCP ACK under a saturating stream). The kernel
	// must steer small packets there (tunio's and udpio's SteerSmall);
	// without steering both lanes still carry everything correctly, each
	// in the order it read it. Needs at least two queues and two shards.
	SmallLane bool
	// SmallLaneLinger is how long after its last packet the small lane,
	// when its device queue and socket can wait in the kernel (tunio's,
	// udpio's), keeps waiting there with a processor of its own, waking
	// ~125 times a second, before it waits in Go's poller again
	// (laneloop.go). Default DefaultSmallLaneLinger; negative: it always
	// waits in Go's poller. A ping through an idle tunnel takes ~25 %
	// less time while the lane lingers.
	SmallLaneLinger time.Duration
	// RelayMTU is the largest packet sent to a relayed peer (relayed
	// datagrams are RelayOverhead bytes longer); larger ones with DF, and
	// IPv6 ones, get an ICMP "too big" back (toobig.go). Zero: no limit.
	// TUN only.
	RelayMTU int
	// Now is the clock for learned addresses, in unix seconds (default
	// the wall clock).
	Now func() int64
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.BatchSize <= 0 {
		d.BatchSize = 64
	}
	if d.Batches <= 0 {
		d.Batches = 8
	}
	if d.Workers <= 0 {
		d.Workers = runtime.GOMAXPROCS(0)
	}
	if d.MaxPacket <= 0 {
		d.MaxPacket = 1500 + 18
	}
	if d.ControlQueue <= 0 {
		d.ControlQueue = 256
	}
	if d.SwitchTimeout <= 0 {
		d.SwitchTimeout = 300 * time.Second
	}
	if d.InlineMax == 0 {
		d.InlineMax = 8
	}
	if d.InlineBytes == 0 {
		d.InlineBytes = 16 << 10
	}
	if d.YieldBytes == 0 {
		d.YieldBytes = 256
	}
	if d.YieldPackets <= 0 {
		d.YieldPackets = 16
	}
	if d.Yield == nil {
		d.Yield = processPause().pause
	}
	if d.SmallLaneLinger == 0 {
		d.SmallLaneLinger = DefaultSmallLaneLinger
	}
	if d.MaxLearned <= 0 {
		d.MaxLearned = 65536
	}
	if d.Now == nil {
		d.Now = func() int64 { return time.Now().Unix() }
	}
	return d
}

// Pipeline runs the data plane between a device and a UDP socket, each
// possibly split into several queues (TUN IFF_MULTI_QUEUE fds, SO_REUSEPORT
// UDP shards). It runs one reader per device queue and one per socket
// shard; the kernel keeps each flow on one queue or shard, so per-flow
// order is kept. Writes go to the first queue and the first shard (of each
// lane, with Config.SmallLane). New and NewMulti allocate everything; Start launches the stages; Close
// stops them (closing every queue and shard, which the pipeline owns from
// Start on) and Wait waits until every stage has returned.
type Pipeline struct {
	cfg   Config
	devs  []tunio.Device
	conns []udpio.Conn
	dev   tunio.Device // devs[0]: the device writer's queue
	conn  udpio.Conn   // conns[0]: the net writer's shard
	log   *zap.Logger

	snap     *atomic.Pointer[Snapshot] // shared by the lanes
	control  chan ControlPacket        // shared by the lanes
	Counters Counters
	ctr      *Counters // where the stages count: Counters of the first lane

	// small is the small-packet lane (Config.SmallLane), a second set of
	// stages over devs[0] and conns[0] sharing snap, control, ctr and
	// learned; nil without. Its inbound closer closes inDone instead of
	// control, and the bulk lane's closes control after it.
	small  *Pipeline
	inDone chan struct{}
	// loop is the small lane's single reader when it waits in the kernel
	// (laneloop.go); set by Start.
	loop *laneLoop

	out, in direction
	learned *learnTable

	// floodBuf and floodMsg are the device readers' scratch for
	// flooding, guarded by floodMu (floods are rare).
	floodMu  sync.Mutex
	floodBuf []byte
	floodMsg []udpio.Message

	sendMu  sync.Mutex
	sendMsg []udpio.Message

	// ICMP "too big" scratch of the device readers (toobig.go), used
	// under in.writeMu.
	tooBigNext atomic.Int64
	tooBigBuf  []byte
	tooBigOut  [][]byte

	// The device writer's carry (deliverBatch, under in.writeMu): the
	// batch whose last carryN of its carryK packets for the device, an
	// open run, were held back to go out with the next batch's; carryVer
	// of them have verified checksums. runs is dev as a RunWriter (nil:
	// nothing is held) and devBufs the scratch of a write behind a carry.
	runs                     tunio.RunWriter
	carry                    *Batch
	carryK, carryN, carryVer int
	devBufs                  [][]byte

	closeOnce sync.Once
	closed    atomic.Bool
	wg        sync.WaitGroup
	limiter   logLimiter
}

// direction is the rings of one direction. With one reader, free and
// order are single-producer single-consumer rings; with several readers
// they are MPMC rings (several consumers of free, several producers of
// order). work always has several consumers (the crypto workers).
//
// There is no writer goroutine: whichever crypto worker finishes a batch
// writes, under writeMu, every finished batch at the head of the order
// ring (drain). The order ring has one consumer at a time, the holder of
// writeMu, which keeps the batch it popped but could not write yet (its
// crypto still running) in head.
type direction struct {
	free  ring.Ring[*Batch] // writers -> readers: empty batches
	work  ring.Ring[*Batch] // readers -> crypto workers
	order ring.Ring[*Batch] // readers -> writers, in read order per reader
	// head is the oldest batch taken from order and not yet written;
	// set and cleared under writeMu, read without it by drain's recheck.
	head *atomic.Pointer[Batch]
	// readers counts the readers still running; the last one to stop
	// closes work and order.
	readers *atomic.Int32
	// workers counts the crypto workers still running; the direction's
	// closer waits for them before the last drain.
	workers *sync.WaitGroup

	// writeMu is held while a batch is written (by a crypto worker
	// draining, or by a reader writing inline); inflight counts batches
	// pushed on order and not yet written. A reader that sees inflight == 0
	// under writeMu knows no earlier batch is pending and may process and
	// write a small batch itself (tryInline).
	writeMu     *sync.Mutex
	inflight    *atomic.Int64
	inlineMax   int
	inlineBytes int            // > 0: also inline batches of at most this many bytes
	inlined     *atomic.Uint64 // batches processed inline (for tests)
	// write is the direction's per-batch write (sendBatch,
	// deliverBatch), called under writeMu.
	write func(*Batch)
	// yieldDue, set by write, asks the holder of writeMu to call yield
	// once it has unlocked (Config.YieldBytes): the core is given up with
	// the lock free, so a worker that finishes meanwhile writes its batch.
	yieldDue *atomic.Bool
	yield    func()
}

func newDirection(cfg Config, bufSize, readers int) direction {
	d := direction{
		work:      ring.NewMPMC[*Batch](cfg.Batches),
		readers:   new(atomic.Int32),
		workers:   new(sync.WaitGroup),
		head:      new(atomic.Pointer[Batch]),
		writeMu:   new(sync.Mutex),
		yieldDue:  new(atomic.Bool),
		inflight:  new(atomic.Int64),
		inlineMax: cfg.InlineMax,
		inlined:   new(atomic.Uint64),
	}
	if cfg.InlineMax >= 0 {
		d.inlineBytes = cfg.InlineBytes
	}
	if readers > 1 {
		d.free, d.order = ring.NewMPMC[*Batch](cfg.Batches), ring.NewMPMC[*Batch](cfg.Batches)
	} else {
		d.free, d.order = ring.NewSPSC[*Batch](cfg.Batches), ring.NewSPSC[*Batch](cfg.Batches)
	}
	d.readers.Store(int32(readers))
	for i := 0; i < cfg.Batches; i++ {
		d.free.Push(newBatch(cfg.BatchSize, bufSize))
	}
	return d
}

// inlineBegin reports whether the reader may process batch b itself,
// crypto and write, in its own goroutine: when b holds at most inlineMax
// packets or at most inlineBytes bytes, and no earlier batch of the
// direction is pending. A lightly
// loaded direction then costs no handoff (lower latency, fewer wake-ups
// per packet), while a backlog (large batches) still spreads over the
// crypto workers. On true the caller holds writeMu and must call
// inlineEnd after writing; on false it hands b on as usual.
func (d *direction) inlineBegin(b *Batch) bool {
	small := b.n <= d.inlineMax || (d.inlineBytes > 0 && b.bytes <= d.inlineBytes)
	if !small || d.inflight.Load() != 0 || !d.writeMu.TryLock() {
		return false
	}
	if d.inflight.Load() != 0 { // a batch was handed on meanwhile
		d.unlock()
		return false
	}
	return true
}

// inlineEnd ends an inline batch begun by inlineBegin.
func (d *direction) inlineEnd() {
	d.inlined.Add(1)
	d.unlock()
}

// unlock releases writeMu and then writes whatever a crypto worker
// finished while the lock was held (the worker's drain found it taken).
// Every holder of writeMu other than drain itself unlocks with it.
func (d *direction) unlock() {
	d.writeMu.Unlock()
	d.yieldIfDue()
	if d.write != nil && d.ready() {
		d.drain()
	}
}

// yieldIfDue yields, once, when a write under the lock just released
// asked for it.
func (d *direction) yieldIfDue() {
	if d.yieldDue.Load() && d.yieldDue.Swap(false) {
		d.yield()
	}
}

// ready reports whether the oldest unwritten batch is finished (or not
// yet taken from the order ring): a look without writeMu.
func (d *direction) ready() bool {
	if h := d.head.Load(); h != nil {
		return h.fin.Load()
	}
	return d.order.Len() > 0
}

// readerDone is deferred by each reader (readers stop only at shutdown).
// It closes free, so that a reader parked there for want of a batch wakes
// and stops too; the last reader closes the rings behind it, so the
// workers and the writer drain and stop.
func (d *direction) readerDone() {
	d.free.Close()
	if d.readers.Add(-1) == 0 {
		d.order.Close()
		d.work.Close()
	}
}

// New builds a pipeline over one device queue and one socket. Nothing runs
// until Start.
func New(cfg Config, dev tunio.Device, conn udpio.Conn, log *zap.Logger) *Pipeline {
	return NewMulti(cfg, []tunio.Device{dev}, []udpio.Conn{conn}, log)
}

// NewMulti builds a pipeline over the queues of one device (devs, e.g.
// (*tunio.Tun).Queues()) and the shards of one socket (conns, e.g. from
// udpio.ListenShards). Both must be non-empty. Nothing runs until Start.
//
// With Config.SmallLane, devs[0] and conns[0] form the small-packet lane
// and the rest the bulk lane, each with stages of its own.
func NewMulti(cfg Config, devs []tunio.Device, conns []udpio.Conn, log *zap.Logger) *Pipeline {
	if log == nil {
		log = zap.NewNop()
	}
	if len(devs) == 0 || len(conns) == 0 {
		panic("pipeline.NewMulti: no device queue or no socket") // a wiring bug, not input
	}
	if !cfg.SmallLane {
		return newLane(cfg, devs, conns, log)
	}
	if len(devs) < 2 || len(conns) < 2 {
		panic("pipeline.NewMulti: a small-packet lane needs two device queues and two sockets")
	}
	p := newLane(cfg, devs[1:], conns[1:], log)
	s := newLane(cfg, devs[:1], conns[:1], log)
	s.snap, s.control, s.ctr, s.learned = p.snap, p.control, p.ctr, p.learned
	s.inDone = make(chan struct{})
	p.small = s
	return p
}

// newLane builds the stages over devs and conns.
func newLane(cfg Config, devs []tunio.Device, conns []udpio.Conn, log *zap.Logger) *Pipeline {
	cfg = cfg.withDefaults()
	// Every reader holds a batch while it waits for input; leave the
	// rest of the pipeline at least one.
	cfg.Batches = max(cfg.Batches, len(devs)+1, len(conns)+1)
	// Room for the largest packet with every header and, relayed, two
	// tags (outbound), or the largest relayed datagram after netRoom
	// (inbound).
	bufSize := netRoom + headroom + cfg.MaxPacket + 2*aead.TagLen
	if bufSize < 2048 {
		bufSize = 2048
	}
	p := &Pipeline{
		cfg:     cfg,
		devs:    devs,
		conns:   conns,
		dev:     devs[0],
		conn:    conns[0],
		log:     log,
		snap:    new(atomic.Pointer[Snapshot]),
		control: make(chan ControlPacket, cfg.ControlQueue),
		out:     newDirection(cfg, bufSize, len(devs)),
		in:      newDirection(cfg, bufSize, len(conns)),
		sendMsg: make([]udpio.Message, 1),
		learned: newLearnTable(cfg.MaxLearned),

		floodBuf:  make([]byte, bufSize),
		tooBigBuf: make([]byte, 0, devRoom+minIPv6MTU),
		tooBigOut: make([][]byte, 1),
		floodMsg:  make([]udpio.Message, 1),
	}
	p.ctr = &p.Counters
	p.out.write, p.in.write = p.sendBatch, p.deliverBatch
	p.in.yield = cfg.Yield
	if rw, ok := p.dev.(tunio.RunWriter); ok {
		p.runs, p.devBufs = rw, make([][]byte, 0, 2*cfg.BatchSize)
	}
	p.snap.Store(&Snapshot{})
	return p
}

// Control returns the channel on which the pipeline delivers control
// packets. It is closed after the inbound writer has stopped.
func (p *Pipeline) Control() <-chan ControlPacket { return p.control }

// Publish makes s the snapshot every following batch is classified with.
// s must not be modified afterwards.
func (p *Pipeline) Publish(s *Snapshot) { p.snap.Store(s) }

// Snapshot returns the snapshot in force.
func (p *Pipeline) Snapshot() *Snapshot { return p.snap.Load() }

// SendTo sends one datagram from the control plane (a handshake message or
// a message already sealed with the peer's session). Safe for concurrent use.
func (p *Pipeline) SendTo(addr netip.AddrPort, pkt []byte) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.sendMsg[0] = udpio.Message{Buf: pkt, N: len(pkt), Addr: addr}
	_, err := p.conn.WriteBatch(p.sendMsg)
	p.sendMsg[0].Buf = nil
	if err != nil {
		return fmt.Errorf("pipeline.SendTo %s: %w", addr, err)
	}
	return nil
}

// Start launches the stage goroutines.
func (p *Pipeline) Start() {
	if p.small != nil {
		p.small.Start()
	}
	p.out.workers.Add(p.cfg.Workers)
	p.in.workers.Add(p.cfg.Workers)
	if p.inDone != nil { // the small lane
		if dev, conn, ok := p.kernelWaitLane(); ok {
			l, err := newLaneLoop(dev, conn, viewsPay(conn))
			if err == nil {
				// Lingering holds a processor through the wait: with only
				// one, the rest of the node would wait for the lane's
				// yields, and nothing would poll the network meanwhile.
				l.linger = p.cfg.SmallLaneLinger
				if runtime.GOMAXPROCS(0) < 2 {
					l.linger = -1
				}
				p.loop = l
				p.wg.Add(3 + 2*p.cfg.Workers)
				go p.routineLaneLoop(l)
				p.log.Info("small lane waits in the kernel", zap.Bool("linger", l.linger > 0))
			} else {
				p.log.Warn("small lane: cannot wait in the kernel, waiting in Go's poller", zap.Error(err))
			}
		}
	}
	if p.loop == nil {
		p.wg.Add(2 + len(p.devs) + len(p.conns) + 2*p.cfg.Workers)
		for _, dev := range p.devs {
			go p.routineReadFromDevice(dev)
		}
		for _, conn := range p.conns {
			go p.routineReadFromNet(conn)
		}
	}
	go p.routineCloseNet()
	go p.routineCloseDevice()
	for i := 0; i < p.cfg.Workers; i++ {
		go p.routineSeal()
		go p.routineOpen()
	}
}

// Close stops the pipeline: it closes every device queue and socket shard
// (the extra ones first, then the first, which for a *tunio.Tun closes the
// rest), which unblocks the readers; the later stages drain and return.
// Safe to call more than once.
func (p *Pipeline) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		if p.loop != nil {
			p.loop.stop()
		}
		var errs []error
		for i := len(p.devs) - 1; i >= 0; i-- {
			errs = append(errs, p.devs[i].Close())
		}
		for i := len(p.conns) - 1; i >= 0; i-- {
			errs = append(errs, p.conns[i].Close())
		}
		if p.small != nil { // after the bulk lane: devs[0] closes every queue
			errs = append(errs, p.small.Close())
		}
		err = errors.Join(errs...)
	})
	return err
}

// Wait blocks until every stage goroutine has returned.
func (p *Pipeline) Wait() {
	if p.small != nil {
		p.small.Wait()
	}
	p.wg.Wait()
}

// isClosed tells a shutdown error from a failure.
func (p *Pipeline) isClosed(err error) bool {
	return p.closed.Load() || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

// logLimiter lets through at most one debug log line per second.
type logLimiter struct{ next atomic.Int64 }

func (l *logLimiter) allow() bool {
	now := time.Now().UnixNano()
	n := l.next.Load()
	return now >= n && l.next.CompareAndSwap(n, now+int64(time.Second))
}

// debugOK reports whether a debug line about a dropped packet may be
// logged now. Call sites check it before building the fields, which would
// allocate per packet otherwise.
func (p *Pipeline) debugOK() bool {
	return p.log.Core().Enabled(zap.DebugLevel) && p.limiter.allow()
}

var _ = wire.TypeData

// readLoop is the reader stage of direction d, shared by the device and the
// network readers: take an empty batch, read into it, classify it, then
// either finish it right here (crypto and write, when the batch is small
// and nothing read earlier is still pending) or hand it to the crypto
// workers and, in read order, to the writer. It returns when reading
// reports the pipeline closed or the rings close.
func (p *Pipeline) readLoop(d *direction, what string, read func(*Batch) (int, error),
	classify func(*Batch, int), crypto, write func(*Batch)) {
	defer d.readerDone()
	for {
		if _, ok := p.readStep(d, what, read, classify, crypto, write); !ok {
			return
		}
	}
}

// readStep is one pass of a reader: read into a free batch (a no-wait
// read may find nothing) and finish it or hand it on. n is the number of
// packets read: a batch read to the brim means more may be waiting, in
// the kernel or in the reader's own buffers; ok false means stop.
func (p *Pipeline) readStep(d *direction, what string, read func(*Batch) (int, error),
	classify func(*Batch, int), crypto, write func(*Batch)) (n int, ok bool) {
	b, ok := d.free.Pop()
	if !ok {
		return 0, false
	}
	n, err := read(b)
	if err != nil {
		_ = d.free.Push(b)
		if p.isClosed(err) {
			return 0, false
		}
		p.log.Warn("reading failed", zap.String("from", what), zap.Error(err))
		time.Sleep(readErrorPause) // a lasting error would spin
		return 0, true
	}
	if n == 0 {
		_ = d.free.Push(b)
		return 0, true
	}
	classify(b, n)
	if d.inlineBegin(b) {
		crypto(b)
		write(b)
		d.inlineEnd()
		return n, true
	}
	d.inflight.Add(1)
	if d.order.Push(b) != nil {
		return n, false
	}
	_ = d.work.Push(b) // cannot fail: work closes after the last reader
	return n, true
}

// readErrorPause keeps a reader whose device or socket keeps failing from
// spinning.
const readErrorPause = 10 * time.Millisecond

// cryptoLoop is a crypto worker of direction d: seal or open each batch
// from the work ring, mark it finished and write what is ready (drain).
func (p *Pipeline) cryptoLoop(d *direction, crypto func(*Batch)) {
	defer d.workers.Done()
	for {
		b, ok := d.work.Pop()
		if !ok {
			return
		}
		crypto(b)
		b.fin.Store(true)
		d.drain()
	}
}

// drain writes, in read order, every finished batch at the head of the
// order ring. It does nothing when another goroutine holds writeMu: that
// goroutine rechecks the head after unlocking, so a batch finished
// meanwhile is still written (a worker marks its batch finished before it
// tries the lock; the holder looks at the head after it unlocks).
func (d *direction) drain() {
	for d.writeMu.TryLock() {
		for {
			h := d.head.Load()
			if h == nil {
				b, ok := d.order.TryPop()
				if !ok {
					break
				}
				h = b
				d.head.Store(h)
			}
			if !h.fin.Load() {
				break
			}
			d.head.Store(nil)
			d.write(h) // h goes back to the free ring: not touched after this
			d.inflight.Add(-1)
		}
		d.writeMu.Unlock()
		d.yieldIfDue()
		if !d.ready() {
			return // the worker of the head batch drains when it finishes
		}
	}
}

// closeLoop waits until the crypto workers of direction d have stopped
// (the rings are closed: shutdown) and writes what is left.
func (p *Pipeline) closeLoop(d *direction) {
	d.workers.Wait()
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	if h := d.head.Swap(nil); h != nil {
		d.write(h)
	}
	for {
		b, ok := d.order.TryPop()
		if !ok {
			return
		}
		d.write(b)
	}
}
