package tunio

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/peercloud/peercloud/internal/fdwait"
)

// WriteHeadroom is the headroom Write needs in front of each packet: none.
// The virtio_net_hdr goes out from tunio's own memory through writev, so
// Write accepts any offset, with offloads on or off.
const WriteHeadroom = 0

// callerIOVMax bounds how much of a caller's buffer one readv fills
// directly; the rest of a long packet lands in the queue's own buffer.
const callerIOVMax = 16 << 10

// queue is one fd of a device; it implements Device for Tun.Queues.
type queue struct {
	t    *Tun
	file *os.File        // non-blocking, registered with Go's poller
	rc   syscall.RawConn // raw access to file's fd through the poller
	vnet bool
	tso  bool
	uso  bool

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// kwait: the fd waits in the kernel (WaitInKernel), not in Go's
	// poller; set before concurrent use. rnowait: this Read returns
	// what is queued, possibly nothing (ReadNoWait).
	kwait   bool
	rnowait bool

	// Read state: one Read at a time (Device contract). The raw-conn
	// callbacks are method values made once, as a closure per call would
	// allocate.
	rbufs  [][]byte
	rsizes []int
	roff   int
	rn     int
	rerr   error
	rfunc  func(uintptr) bool
	rhdr   [virtioHdrLen]byte
	rbuf   []byte // with vnet: superpacket assembly, callerIOVMax + 64 KiB
	riov   [3]unix.Iovec
	split  splitter

	// Write state: one Write at a time.
	wbufs [][]byte
	woff  int
	wn    int
	werr  error
	wfunc func(uintptr) bool
	whdr  [virtioHdrLen]byte
	wiov  [maxRunSegments + 1]unix.Iovec
	wniov int // iovecs of a prepared writev not yet done (EAGAIN), else 0
	wend  int // end of the prepared run in wbufs
	// WriteRuns: hold back an open last run (whold), the checksums
	// already verified at the front of wbufs (wtrusted), and those of
	// the run held back (wheld).
	whold    bool
	wtrusted int
	wheld    int
}

var (
	_ Device    = (*queue)(nil)
	_ RunWriter = (*queue)(nil)
)

func newQueue(t *Tun, fd int, path string) (*queue, error) {
	// os.NewFile sees O_NONBLOCK and registers the fd with the poller, so
	// a blocked Read parks the goroutine, not a thread, and Close wakes it.
	file := os.NewFile(uintptr(fd), path)
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("raw conn: %w", err)
	}
	q := &queue{t: t, file: file, rc: rc,
		vnet: t.offloads&OffloadVnetHdr != 0,
		tso:  t.offloads&OffloadTSO != 0,
		uso:  t.offloads&OffloadUSO != 0,
	}
	if q.vnet {
		q.rbuf = make([]byte, callerIOVMax+maxPacket+1)
	}
	q.rfunc, q.wfunc = q.readRaw, q.writeRaw
	return q, nil
}

func (q *queue) Name() string { return q.t.name }
func (q *queue) Type() Type   { return q.t.typ }
func (q *queue) MTU() int     { return q.t.MTU() }

// WaitInKernel takes the queue out of Go's poller: from then on a read or
// write that has to wait does so in the kernel (ppoll), and whoever polls
// PollFd is the only one woken by its packets. The pipeline's small-packet
// lane waits on it with its own epoll set. Call it before the queue is
// used concurrently.
func (q *queue) WaitInKernel() error {
	if q.kwait {
		return nil
	}
	f, rc, err := fdwait.Detach(q.file)
	if err != nil {
		return fmt.Errorf("tunio.WaitInKernel %s: %w", q.t.name, err)
	}
	q.file, q.rc, q.kwait = f, rc, true
	return nil
}

// PollFd returns the queue's descriptor for a caller's own poll or epoll
// set (after WaitInKernel); -1 once closed.
func (q *queue) PollFd() int {
	fd := -1
	if err := q.rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1
	}
	return fd
}

// kernelWait waits in the kernel until fd is ready for events, for a
// queue under WaitInKernel: true to try again; false, with *errp set,
// once the queue is closed.
func (q *queue) kernelWait(fd uintptr, events int16, errp *error) bool {
	if fdwait.WaitUntilClosed(int(fd), events, q.isClosed) {
		return true
	}
	*errp = net.ErrClosed
	return false
}

func (q *queue) isClosed() bool { return q.closed.Load() || q.t.closed.Load() }

// Close closes this queue's fd only (Tun.Close closes all queues).
func (q *queue) Close() error {
	if err := q.close(); err != nil {
		return fmt.Errorf("tunio.Close %s: %w", q.t.name, err)
	}
	return nil
}

func (q *queue) close() error {
	q.closeOnce.Do(func() {
		q.closed.Store(true)
		q.closeErr = q.file.Close()
	})
	return q.closeErr
}

func (q *queue) wrapErr(op string, err error) error {
	return wrapErr(op, q.t.name, q.closed.Load() || q.t.closed.Load(), err)
}

// Read implements Device. After the first packet (for which it blocks) it
// keeps reading while packets are queued, up to len(bufs), so a burst costs
// one wake-up.
func (q *queue) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return q.read(bufs, sizes, offset, false)
}

// ReadNoWait is Read that returns 0 packets instead of waiting when none
// are queued: for a caller that polls PollFd itself (after WaitInKernel).
func (q *queue) ReadNoWait(bufs [][]byte, sizes []int, offset int) (int, error) {
	return q.read(bufs, sizes, offset, true)
}

func (q *queue) read(bufs [][]byte, sizes []int, offset int, nowait bool) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if len(sizes) < len(bufs) || offset < 0 {
		return 0, fmt.Errorf("tunio.Read %s: %w", q.t.name, ErrBadOffset)
	}
	for _, b := range bufs {
		if offset > len(b) {
			return 0, fmt.Errorf("tunio.Read %s: %w", q.t.name, ErrBadOffset)
		}
	}
	q.rbufs, q.rsizes, q.roff, q.rn, q.rerr, q.rnowait = bufs, sizes, offset, 0, nil, nowait
	var err error
	if q.vnet && q.split.pending() {
		q.readVnet(-1) // hand out what is left without a syscall
	}
	if q.rn < len(bufs) {
		err = q.rc.Read(q.rfunc)
	}
	n := q.rn
	if err == nil {
		err = q.rerr
	}
	q.rbufs, q.rsizes = nil, nil // don't pin the caller's buffers
	if n > 0 || (nowait && err == nil) {
		return n, nil
	}
	return 0, q.wrapErr("read", err)
}

// readRaw runs on the poller's behalf; false means "would block, wait".
func (q *queue) readRaw(fd uintptr) bool {
	if q.vnet {
		return q.readVnet(int(fd))
	}
	for q.rn < len(q.rbufs) {
		r, err := rawIO(unix.SYS_READ, int(fd), q.rbufs[q.rn][q.roff:])
		switch err {
		case 0:
			q.rsizes[q.rn] = r
			q.rn++
		case unix.EINTR:
		case unix.EAGAIN:
			if q.rn > 0 || q.rnowait {
				return true
			}
			if !q.kwait {
				return false // nothing yet: park in the poller
			}
			if !q.kernelWait(fd, unix.POLLIN, &q.rerr) {
				return true
			}
		default:
			q.rerr = err
			return true
		}
	}
	return true
}

// readVnet fills the caller's buffers from pending segments and then from
// the fd (fd < 0: pending segments only). Each readv puts the virtio header
// into q.rhdr, the start of the packet straight into the caller's buffer
// and any rest into q.rbuf, so a plain packet is never copied; a
// superpacket is made contiguous in q.rbuf and split from there.
func (q *queue) readVnet(fd int) bool {
	for q.rn < len(q.rbufs) {
		dst := q.rbufs[q.rn][q.roff:]
		if q.split.pending() {
			n, err := q.split.nextInto(dst)
			if err != nil {
				q.t.dropped.Add(1)
				continue
			}
			q.rsizes[q.rn] = n
			q.rn++
			continue
		}
		if fd < 0 {
			return true
		}
		direct := dst[:min(len(dst), callerIOVMax)]
		q.riov[0].Base, q.riov[0].Len = &q.rhdr[0], virtioHdrLen
		niov := 1
		if len(direct) > 0 {
			q.riov[1].Base = &direct[0]
			q.riov[1].SetLen(len(direct))
			niov++
		}
		spill := q.rbuf[len(direct):]
		q.riov[niov].Base = &spill[0]
		q.riov[niov].SetLen(len(spill))
		niov++
		// unsafe: readv needs the iovec array's address; q.riov lives in
		// the queue (heap) and its Base pointers keep the buffers alive.
		// Raw: the fd is non-blocking, so the call never sleeps, and
		// skipping the runtime's syscall bookkeeping spares a wake-up
		// of its monitor thread per packet (see docs/ARCHITECTURE.md).
		r, _, errno := unix.RawSyscall(unix.SYS_READV, uintptr(fd), uintptr(unsafe.Pointer(&q.riov[0])), uintptr(niov))
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if q.rn > 0 || q.rnowait {
				return true
			}
			if !q.kwait {
				return false // nothing yet: park in the poller
			}
			if !q.kernelWait(uintptr(fd), unix.POLLIN, &q.rerr) {
				return true
			}
			continue
		default:
			q.rerr = errno
			return true
		}
		if int(r) < virtioHdrLen {
			q.t.dropped.Add(1)
			continue
		}
		size := int(r) - virtioHdrLen
		var h virtioHdr
		h.decode(q.rhdr[:])
		if h.gsoType == gsoNone {
			if size > len(direct) { // long plain packet: the rest from rbuf
				size = len(direct) + copy(dst[len(direct):], q.rbuf[len(direct):size])
			}
			if h.flags&virtioFlagNeedsCsum != 0 && (size < int(r)-virtioHdrLen ||
				completeChecksum(dst[:size], int(h.csumStart), int(h.csumOffset)) != nil) {
				q.t.dropped.Add(1) // truncated or malformed: cannot checksum
				continue
			}
			q.rsizes[q.rn] = size
			q.rn++
			continue
		}
		copy(q.rbuf, direct[:min(size, len(direct))])
		if err := q.split.reset(&h, q.rbuf[:size]); err != nil {
			q.t.dropped.Add(1)
		} else {
			q.t.split.Add(1)
		}
	}
	return true
}

// Write implements Device; see Tun.Write.
func (q *queue) Write(bufs [][]byte, offset int) (int, error) {
	n, _, err := q.write(bufs, offset, 0, false)
	return n, err
}

// WriteRuns implements RunWriter; see Tun.WriteRuns.
func (q *queue) WriteRuns(bufs [][]byte, offset, verified int, hold bool) (n, heldVerified int, err error) {
	return q.write(bufs, offset, verified, hold)
}

func (q *queue) write(bufs [][]byte, offset, verified int, hold bool) (int, int, error) {
	if offset < 0 {
		return 0, 0, fmt.Errorf("tunio.Write %s: %w", q.t.name, ErrBadOffset)
	}
	lim := len(bufs)
	for i, b := range bufs {
		if offset > len(b) {
			lim = i
			break
		}
	}
	q.wbufs, q.woff, q.wn, q.werr, q.wniov = bufs[:lim], offset, 0, nil, 0
	q.whold = hold && lim == len(bufs) && q.vnet && q.tso
	q.wtrusted, q.wheld = min(verified, lim), 0
	err := q.rc.Write(q.wfunc)
	n := q.wn
	if err == nil {
		err = q.werr
	}
	q.wbufs = nil
	for i := range q.wniov {
		q.wiov[i].Base = nil
	}
	heldVerified := 0
	if err == nil && n < lim && q.whold {
		heldVerified = q.wheld // writeVnet stopped at the open last run
	}
	if err == nil && lim < len(bufs) {
		err = ErrBadOffset
	}
	if err != nil {
		return n, 0, q.wrapErr("write", err)
	}
	return n, heldVerified, nil
}

// writeRaw runs on the poller's behalf; false means "would block, wait".
func (q *queue) writeRaw(fd uintptr) bool {
	if q.vnet {
		return q.writeVnet(int(fd))
	}
	for q.wn < len(q.wbufs) {
		_, err := rawIO(unix.SYS_WRITE, int(fd), q.wbufs[q.wn][q.woff:])
		switch err {
		case 0:
			q.wn++
		case unix.EINTR:
		case unix.EAGAIN:
			if !q.kwait {
				return false // wait in the poller
			}
			if !q.kernelWait(fd, unix.POLLOUT, &q.werr) {
				return true
			}
		default:
			q.werr = err
			return true
		}
	}
	return true
}

// writeVnet writes runs of packets, each as one writev: the virtio header
// from q.whdr, then the packet or, for a coalesced run, the first packet
// (its headers rewritten by finishRun) and the payloads of the others.
func (q *queue) writeVnet(fd int) bool {
	for q.wn < len(q.wbufs) {
		if q.wniov == 0 && !q.prepareRun() {
			return true // the open last run is held back (WriteRuns)
		}
		// unsafe: writev needs the iovec array's address; q.wiov lives in
		// the queue (heap) and its Base pointers keep the buffers alive.
		// Raw: non-blocking fd, as in readVnet.
		_, _, errno := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&q.wiov[0])), uintptr(q.wniov))
		switch errno {
		case 0:
			if q.wend > q.wn+1 {
				q.t.merged.Add(1)
			}
			q.wn, q.wniov = q.wend, 0
		case unix.EINTR:
		case unix.EAGAIN:
			if !q.kwait {
				return false // q.wniov stays: retry the same writev
			}
			if !q.kernelWait(uintptr(fd), unix.POLLOUT, &q.werr) {
				return true
			}
		default:
			q.werr = errno
			return true
		}
	}
	return true
}

// prepareRun finds the run starting at q.wn and fills q.wiov for it. It
// returns false, preparing nothing, for an open last run WriteRuns is to
// hold back (q.wheld is then the number of its packets whose checksums
// findRun verified).
func (q *queue) prepareRun() bool {
	bufs, off, i := q.wbufs, q.woff, q.wn
	trusted := 0
	if i < q.wtrusted {
		trusted = q.wtrusted - i
	}
	end, first, total, open := findRun(bufs, off, i, trusted, q.tso, q.uso)
	if open && q.whold {
		q.wheld = 0
		if end-i > 1 {
			q.wheld = end - i // a run of two or more: all of it verified
		}
		return false
	}
	a := bufs[i][off:]
	q.wend = end
	q.wiov[0].Base, q.wiov[0].Len = &q.whdr[0], virtioHdrLen
	if end == i+1 {
		clear(q.whdr[:])
		q.wniov = 1
		if len(a) > 0 {
			q.wiov[1].Base = &a[0]
			q.wiov[1].SetLen(len(a))
			q.wniov = 2
		}
		return true
	}
	var lastFlags uint8
	if first.kind == kindTCP4 || first.kind == kindTCP6 {
		lastFlags = bufs[end-1][off+first.iphLen+13]
	}
	h := finishRun(a, first, total, lastFlags)
	h.encode(q.whdr[:])
	q.wiov[1].Base = &a[0]
	q.wiov[1].SetLen(first.hdrLen + first.payload)
	n := 2
	for j := i + 1; j < end; j++ {
		p := bufs[j][off+first.hdrLen:]
		q.wiov[n].Base = &p[0]
		q.wiov[n].SetLen(len(p))
		n++
	}
	q.wniov = n
	return true
}

// rawIO is read(2) or write(2) (trap) of b on the non-blocking fd, as a raw
// system call like the readv and writev of the offload path.
func rawIO(trap uintptr, fd int, b []byte) (int, unix.Errno) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	// unsafe: the kernel reads or writes b, the caller's buffer, alive
	// for the call.
	r, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(p), uintptr(len(b)))
	return int(r), e
}
