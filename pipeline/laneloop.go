package pipeline

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/peercloud/peercloud/udpio"
)

// The small-packet lane's loop (Config.SmallLane with a real TUN queue and
// socket): one goroutine reads both the lane's device queue and its
// socket, like VpnCloud's single thread, and waits for either in the
// kernel (epoll_pwait) rather than in Go's poller. Parking a goroutine in
// the poller and waking it costs a scheduler round trip that on an idle
// host, with cold caches, takes ~25 µs more per wake-up than a thread the
// kernel wakes straight out of its wait; a ping crosses three such
// wake-ups (docs/ARCHITECTURE.md).
//
// While traffic is steady (Config.SmallLaneLinger) the loop keeps its
// processor through the wait (a raw system call, see waitActive): it
// yields every schedEvery, under the 10 ms after which the runtime's
// monitor would preempt a goroutine that has not rescheduled. A periodic
// timer in the loop's epoll set (a timerfd, armed while the loop lingers)
// says when, so that the waits themselves need no timeout (see yieldTimer).
// After the linger it waits in Go's poller instead and costs nothing
// while the tunnel is idle.

// kernelWaitDevice is a device queue the lane can wait on in the kernel
// (tunio's Tun and queues).
type kernelWaitDevice interface {
	WaitInKernel() error
	PollFd() int
	ReadNoWait(bufs [][]byte, sizes []int, offset int) (int, error)
}

// kernelWaitConn is a socket the lane can wait on in the kernel (udpio's
// Socket).
type kernelWaitConn interface {
	WaitInKernel() error
	PollFd() int
	ReadBatchNoWait(msgs []udpio.Message) (int, error)
	ReadBatchViewNoWait(msgs []udpio.Message) (int, error)
	Offloads() udpio.Offloads
}

const (
	// schedEvery is how often the loop yields while it keeps its
	// processor (the period of its yield timer).
	schedEvery = 8 * time.Millisecond
	// activateWakes wake-ups with packets within the linger make the
	// loop linger.
	activateWakes = 3
	// DefaultSmallLaneLinger is how long the lane keeps its processor
	// after its last packet (Config.SmallLaneLinger).
	DefaultSmallLaneLinger = time.Second
)

// epoll event tags.
const (
	tagDev = iota
	tagConn
	tagWake
	tagTimer
)

// laneLoop is the state of the small lane's loop.
type laneLoop struct {
	dev  kernelWaitDevice
	conn kernelWaitConn
	ep   int      // the loop's epoll set (level-triggered): dev, conn, wake, timer
	wake *os.File // eventfd: Close writes it to end the loop
	// timer is the yield timer (a timerfd in ep, see yieldTimer), armed
	// while the loop lingers. A bare descriptor, like ep: an os.File would
	// register it with Go's poller, whose thread it would then wake.
	timer int
	armed bool
	evs   [4]unix.EpollEvent
	views bool
	// linger is Config.SmallLaneLinger, negative with a single processor.
	linger time.Duration
	// idle is a duplicate of ep registered with Go's poller while the
	// loop waits there (waitIdle); nil otherwise (leaveIdle).
	idle   *os.File
	idleRC syscall.RawConn

	// For tests: how often the loop started to linger, its waits in Go's
	// poller, and its yields to the timer.
	lingers   atomic.Uint64
	idleWaits atomic.Uint64
	yields    atomic.Uint64
}

// kernelWaitLane reports the lane's device queue and socket when both can
// wait in the kernel.
func (p *Pipeline) kernelWaitLane() (kernelWaitDevice, kernelWaitConn, bool) {
	if len(p.devs) != 1 || len(p.conns) != 1 {
		return nil, nil, false
	}
	d, ok := p.devs[0].(kernelWaitDevice)
	c, ok2 := p.conns[0].(kernelWaitConn)
	return d, c, ok && ok2
}

// newLaneLoop takes the lane's queue and socket out of Go's poller and
// builds the loop's epoll set. On error the lane runs its two readers
// instead (which then wait in the kernel too, one system call each).
func newLaneLoop(dev kernelWaitDevice, conn kernelWaitConn, views bool) (_ *laneLoop, err error) {
	if err := dev.WaitInKernel(); err != nil {
		return nil, err
	}
	if err := conn.WaitInKernel(); err != nil {
		return nil, err
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(ep)
		}
	}()
	// Non-blocking, so that a duplicate given to os.NewFile while the
	// loop waits in Go's poller is registered there (epoll_pwait itself
	// ignores the flag).
	if err := unix.SetNonblock(ep, true); err != nil {
		return nil, fmt.Errorf("epoll set: %w", err)
	}
	// Blocking: os.NewFile then leaves the eventfd out of Go's poller;
	// only the loop's epoll set watches it.
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	wake := os.NewFile(uintptr(efd), "lane-wake")
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		wake.Close()
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	l := &laneLoop{dev: dev, conn: conn, ep: ep, wake: wake, timer: tfd, views: views}
	for _, x := range []struct {
		fd  int
		tag int32
	}{{dev.PollFd(), tagDev}, {conn.PollFd(), tagConn}, {efd, tagWake}, {tfd, tagTimer}} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: x.tag}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, x.fd, &ev); err != nil {
			l.wake.Close()
			unix.Close(tfd)
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	return l, nil
}

// yieldTimer arms (every schedEvery) or disarms the loop's yield timer.
// An expiry not yet read stays readable until clearTimer.
//
// The timer replaced a timeout on each wait (until the next yield was
// due). On a virtual machine a timeout costs the wait twice: the kernel
// arms a high-resolution timer as the thread goes to sleep and cancels it
// when a packet wakes it, and a timer that becomes the processor's next
// one reprograms its clock, which traps to the hypervisor. The timer
// instead is armed once per linger and fires on its own. Lab, pings
// every 10 ms: node b went to sleep 18–20 µs after entering the wait that
// follows the reply's send, 12–13 µs with the timer, VpnCloud (whose
// waits time out after a second) 8 µs (bpftrace, two runs of 300 pings).
// Alternated with the build before (three rounds of 800 pings): idle ping
// 0.176–0.232 ms against 0.224–0.258, VpnCloud 0.228–0.249, and 145–218
// µs of a node's CPU per ping against 193–267; under a saturating TCP
// stream 0.34–0.38 ms against 0.39–0.42; TCP and the 64-byte rate within
// noise (four and three rounds).
func (l *laneLoop) yieldTimer(on bool) error {
	if on == l.armed {
		return nil
	}
	var its unix.ItimerSpec
	if on {
		its.Interval = unix.NsecToTimespec(int64(schedEvery))
		its.Value = its.Interval
	}
	if err := unix.TimerfdSettime(l.timer, 0, &its, nil); err != nil {
		return fmt.Errorf("timerfd_settime: %w", err)
	}
	l.armed = on
	return nil
}

// clearTimer reads the timer's expiry count (so that the level-triggered
// set stops reporting it).
func (l *laneLoop) clearTimer() {
	var b [8]byte
	_, _ = unix.Read(l.timer, b[:]) // EAGAIN: nothing to clear
}

// stop ends the loop (from Close); safe after the loop has returned.
func (l *laneLoop) stop() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = l.wake.Write(one[:]) // os.ErrClosed once the loop is gone
}

// waitActive waits in the kernel, keeping the processor, until an event
// (the yield timer's among them); it returns the number of events.
//
// The wait is a raw system call: the runtime does not know of it, so it
// sees a goroutine running and leaves the processor with it. Through
// syscall.Syscall6 (until November 2026) the processor was only marked
// as in a system call, and the runtime's monitor takes such a processor
// from a wait longer than its tick (20 µs to 10 ms) whenever no other
// one is idle, as on a loaded node: it starts a thread for it, which
// spins, mostly finds nothing and sleeps, and the lane, woken, must get
// a processor back. In a TCP stream such spinning and parking threads
// (runtime.notesleep, runqgrab's usleep) made a quarter of the nodes'
// context switches (perf, sched:sched_switch).
// Lab, one TCP stream, GOMAXPROCS 2, three alternations: node CPU per
// GB 2.31–2.39 (a→b) and 2.06–2.12 s (b→a) against 2.77–3.06 and
// 2.27–2.49 (the daemon then ran with three processors; with three and
// the raw wait 2.48–2.57 and 2.25–2.55), TCP 4.7–5.0 against 4.1–4.4
// Gbit/s a→b, the pings and the 64-byte rate within noise.
//
// A signal ends the wait (EINTR) with no events instead of waiting
// again: the runtime preempts a goroutine by signalling its thread, and
// a wait that restarted would keep the goroutine from the safe point the
// garbage collector's stop-the-world waits for — with the signal sent
// again every few microseconds, until a packet came.
func (l *laneLoop) waitActive() (int, error) {
	// unsafe: epoll_pwait writes l.evs, heap memory held by l. The
	// timeout is -1: no timer per wait (yieldTimer).
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.ep), uintptr(unsafe.Pointer(&l.evs[0])), uintptr(len(l.evs)), ^uintptr(0), 0, 0)
	switch e {
	case 0:
		return int(n), nil
	case unix.EINTR:
		return 0, nil
	default:
		return 0, fmt.Errorf("epoll_pwait: %w", e)
	}
}

// poll collects the events that are ready without waiting. Raw: it never
// blocks, and the runtime's syscall bookkeeping could wake its monitor.
func (l *laneLoop) poll(fd uintptr) (int, unix.Errno) {
	for {
		// unsafe: as in waitActive.
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&l.evs[0])), uintptr(len(l.evs)), 0, 0, 0)
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// waitIdle waits in Go's poller until the epoll set has an event: the
// goroutine gives up its processor and nothing runs until traffic comes.
// A duplicate of the set is registered with the poller for this, and
// stays so until leaveIdle: unregistering costs two system calls the
// first packet after the wait should not wait for.
func (l *laneLoop) waitIdle() (n int, err error) {
	if l.idle == nil {
		dup, err := unix.FcntlInt(uintptr(l.ep), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("dup epoll set: %w", err)
		}
		f := os.NewFile(uintptr(dup), "lane-epoll") // non-blocking: registered
		rc, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return 0, fmt.Errorf("epoll set: %w", err)
		}
		l.idle, l.idleRC = f, rc
	}
	var perr unix.Errno
	if err := l.idleRC.Read(func(fd uintptr) bool {
		n, perr = l.poll(fd)
		return n != 0 || perr != 0
	}); err != nil {
		return 0, fmt.Errorf("epoll set: %w", err)
	}
	if perr != 0 {
		return 0, fmt.Errorf("epoll_pwait: %w", perr)
	}
	return n, nil
}

// leaveIdle unregisters the set from Go's poller, so that while the loop
// waits in the kernel the lane's traffic does not wake the poller's
// thread too.
func (l *laneLoop) leaveIdle() {
	if l.idle != nil {
		l.idle.Close()
		l.idle, l.idleRC = nil, nil
	}
}

// routineLaneLoop is the small lane's only reader (laneloop.go's header).
func (p *Pipeline) routineLaneLoop(l *laneLoop) {
	defer p.wg.Done()
	defer unix.Close(l.ep)
	defer l.wake.Close()
	defer unix.Close(l.timer)
	defer l.leaveIdle()
	defer p.in.readerDone()
	defer p.out.readerDone()

	devRead, devClassify := p.deviceReader(l.dev.ReadNoWait)
	// devFirst reads a single packet: see devSparse.
	devFirst, _ := p.deviceReader(func(bufs [][]byte, sizes []int, offset int) (int, error) {
		return l.dev.ReadNoWait(bufs[:1], sizes[:1], offset)
	})
	readBatch := l.conn.ReadBatchNoWait
	if l.views {
		readBatch = l.conn.ReadBatchViewNoWait
	}
	netRead, netClassify := p.netReader(readBatch, l.views)

	linger := l.linger
	now := time.Now()
	lastPacket := now.Add(-linger)
	devMore, connMore := false, false // the last read filled its batch
	// devSparse: the device's last read found a single packet (a ping, a
	// lone ACK). The next wake-up then sends the first packet on its own
	// before the read that fills a batch with whatever else is queued,
	// which usually finds the queue empty: that read is off the lone
	// packet's path. A device read is one system call per packet, so
	// a burst costs one more send than batching it whole, and the burst
	// then makes the reads batch again.
	devSparse := true
	// The loop lingers (active) once traffic is steady: activateWakes
	// wake-ups with packets in Go's poller within the linger. A ping a
	// second or less often then never makes it switch (the switch itself
	// costs the first packets after it some 30 µs, and the lingering
	// costs a processor's wake-ups).
	active := false
	var wakes [activateWakes]time.Time
	nwake := 0
	for {
		var n int
		var err error
		idleWake := false
		switch {
		case devMore || connMore:
			var e unix.Errno
			if n, e = l.poll(uintptr(l.ep)); e != 0 {
				err = fmt.Errorf("epoll_pwait: %w", e)
			}
		case active && time.Since(lastPacket) < linger:
			n, err = l.waitActive()
		default:
			if active {
				active = false
				if err = l.yieldTimer(false); err != nil {
					break
				}
				l.clearTimer()
			}
			l.idleWaits.Add(1)
			n, err = l.waitIdle()
			idleWake = true
		}
		if err != nil {
			if !p.closed.Load() {
				p.log.Error("small lane stopped", zap.Error(err))
			}
			return
		}
		doDev, doConn, yield := devMore, connMore, false
		for _, ev := range l.evs[:n] {
			switch ev.Fd {
			case tagDev:
				doDev = true
			case tagConn:
				doConn = true
			case tagWake:
				return
			case tagTimer:
				yield = true
			}
		}
		if doDev || doConn {
			lastPacket = time.Now()
			if idleWake && linger > 0 {
				wakes[nwake%activateWakes] = lastPacket
				nwake++
				oldest := wakes[nwake%activateWakes] // of the last activateWakes
				active = nwake >= activateWakes && lastPacket.Sub(oldest) < linger
				if active {
					if err := l.yieldTimer(true); err != nil {
						// Without the timer nothing would make the
						// loop yield: it stops lingering instead.
						p.log.Warn("small lane: no yield timer, not lingering", zap.Error(err))
						active, linger = false, -1
					} else {
						l.lingers.Add(1)
					}
				}
			}
		}
		if doDev {
			first, n, ok := 0, 0, true
			if devSparse && !devMore {
				first, ok = p.readStep(&p.out, "device", devFirst, devClassify, p.sealBatch, p.sendBatch)
			}
			if ok && (first > 0 || !devSparse || devMore) {
				n, ok = p.readStep(&p.out, "device", devRead, devClassify, p.sealBatch, p.sendBatch)
			}
			if !ok {
				return
			}
			devMore, devSparse = n == p.cfg.BatchSize, first+n <= 1
		}
		if doConn {
			n, ok := p.readStep(&p.in, "network", netRead, netClassify, p.openBatch, p.deliverBatch)
			if !ok {
				return
			}
			connMore = n == p.cfg.BatchSize
		}
		if !idleWake {
			l.leaveIdle() // the packets that woke it are out
		}
		if yield {
			l.clearTimer()
			runtime.Gosched()
			l.yields.Add(1)
		}
	}
}
