package pipeline

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Core pauses (Config.Yield's default).
const (
	// pauseSleep is how long the device writer sleeps (plus the kernel's
	// timer slack, 50 µs by default). In the lab (64-byte UDP flood, 2
	// cores) 20 µs delivered as much as 50 µs and more than 1 µs; 100 µs
	// lost packets at 150 kpps.
	pauseSleep = 20 * time.Microsecond
	// pauseGap is the least time from one pause to the next, which bounds
	// what the pauses can cost: at most 2000 a second, ~15 % of one
	// thread's time. Harness, 5 rounds, each round's ratio to Nebula:
	// pausing after every batch of small packets 1.40-1.45x Nebula's
	// unthrottled 64-byte rate (without pauses 0.95-1.10x) but 0.9x the
	// rate carried with at most 1 % loss; at most every 500 µs
	// 1.21-1.37x and that rate unchanged; every 1 ms 1.04-1.31x.
	pauseGap = 500 * time.Microsecond
	// pauseCheck is how often the pause looks again whether threads wait
	// for a core.
	pauseCheck = 10 * time.Millisecond
	// pauseStall is the share of the time in which some thread waited for
	// a core (/proc/pressure/cpu, "some") from which the writer pauses.
	pauseStall = 0.10
)

// corePause gives up the calling thread's core for a moment (pauseSleep,
// at most once per pauseGap), but only while threads on this host wait
// for a core: while, since the last look (at most every pauseCheck),
// some thread waited at least pauseStall of the time (the kernel's
// pressure stall information, /proc/pressure/cpu). A node on a host with
// cores to spare never sleeps, nor where the kernel has no such file.
//
// A sleep, unlike sched_yield, keeps the thread's place in the
// scheduler's order: it leaves the run queue and, woken by its timer, is
// due again at once, while sched_yield stays queued behind every other
// runnable thread's slice. With two CPU-bound processes beside a 78 kpps
// stream of small packets the yield cost 36-53 % of the packets (the
// writer waited 1-5 ms each time); the sleep costs none.
type corePause struct {
	next  atomic.Int64 // monotonic ns of the next look
	prev  atomic.Int64 // stall µs at the last look
	on    atomic.Bool  // the last look saw enough stall
	after atomic.Int64 // monotonic ns before which no pause

	stall func() int64 // total µs some thread waited for a core; < 0: unknown
	sleep func()
	now   func() int64 // monotonic ns
}

var monoEpoch = time.Now()

// processPause is the process's one corePause (one open PSI file, one
// pauseGap for every pipeline).
var processPause = sync.OnceValue(newCorePause)

func newCorePause() *corePause {
	c := &corePause{sleep: rawSleep, now: func() int64 { return int64(time.Since(monoEpoch)) }}
	f, err := os.Open("/proc/pressure/cpu")
	if err != nil {
		c.stall = func() int64 { return -1 }
		return c
	}
	buf := make([]byte, 256) // one caller at a time: the winner of next
	c.stall = func() int64 {
		n, err := f.ReadAt(buf, 0)
		if n == 0 && err != nil {
			return -1
		}
		return psiTotal(buf[:n])
	}
	return c
}

// psiTotal returns the total= of the first line of a PSI file, -1 if none.
func psiTotal(b []byte) int64 {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	i := bytes.Index(b, []byte("total="))
	if i < 0 {
		return -1
	}
	v, err := strconv.ParseInt(string(b[i+6:]), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// pause sleeps for pauseSleep when threads wait for a core and the last
// pause is at least pauseGap ago. Safe for concurrent use.
func (c *corePause) pause() {
	now := c.now()
	if n := c.next.Load(); now >= n && c.next.CompareAndSwap(n, now+int64(pauseCheck)) {
		// The share of the time since the last look (n-pauseCheck) in
		// which some thread waited.
		v := c.stall()
		p := c.prev.Swap(v)
		since := float64(now-(n-int64(pauseCheck))) / float64(time.Microsecond)
		c.on.Store(v >= 0 && p > 0 && float64(v-p) >= pauseStall*since)
	}
	if !c.on.Load() {
		return
	}
	if a := c.after.Load(); now >= a && c.after.CompareAndSwap(a, now+int64(pauseGap)) {
		c.sleep()
	}
}

var pauseSpec = unix.NsecToTimespec(int64(pauseSleep))

// rawSleep sleeps for pauseSleep in the kernel. Raw: the runtime need not
// hand the thread's P to another thread for so short a block.
func rawSleep() {
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&pauseSpec)), 0, 0)
}
