package udpio

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// groBufSize holds the largest datagram UDP GRO delivers (64 KiB).
const groBufSize = 1 << 16

// ReadBatch implements Conn.
//
// With GRO, datagrams are received into the socket's own 64 KiB buffers;
// each coalesced one (a gso_size control message) is split back into its
// datagrams, copied into msgs in order. What does not fit in msgs is kept
// and returned first by the next call.
func (s *Socket) ReadBatch(msgs []Message) (int, error) {
	return s.read(msgs, false)
}

// ReadBatchView is ReadBatch without the copy out of the GRO buffers:
// each msgs[i].Buf is set to the received datagram itself, N bytes long.
// With GRO on, that is a view into the socket's own receive buffers, valid
// only until the next read on the socket; without GRO the datagram is read
// into the caller's msgs[i].Buf as by ReadBatch, and Buf is cut to it. A
// caller that decrypts out of place (aead.Session.OpenTo) saves the copy
// (~8 % of a receiving node's CPU in a TCP stream, perf).
func (s *Socket) ReadBatchView(msgs []Message) (int, error) {
	return s.readView(msgs, false)
}

// ReadBatchNoWait is ReadBatch that returns 0 messages instead of waiting
// when none are queued: for a caller that polls PollFd itself.
func (s *Socket) ReadBatchNoWait(msgs []Message) (int, error) {
	return s.read(msgs, true)
}

func (s *Socket) read(msgs []Message, noblock bool) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.readLocked(msgs, noblock)
}

// ReadBatchViewNoWait is ReadBatchView that returns 0 messages instead of
// waiting when none are queued.
func (s *Socket) ReadBatchViewNoWait(msgs []Message) (int, error) {
	return s.readView(msgs, true)
}

func (s *Socket) readView(msgs []Message, noblock bool) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.gro == nil {
		n, err := s.readLocked(msgs, noblock)
		for i := range n {
			msgs[i].Buf = msgs[i].Buf[:msgs[i].N]
		}
		return n, err
	}
	return s.readGROLocked(msgs, noblock, true)
}

// readLocked is ReadBatch; with noblock it returns 0 instead of waiting.
func (s *Socket) readLocked(msgs []Message, noblock bool) (int, error) {
	if s.gro != nil {
		return s.readGROLocked(msgs, noblock, false)
	}
	sc := s.r
	n := min(len(msgs), len(sc.hdrs))
	for i := range n {
		sc.setIov(i, msgs[i].Buf)
		h := &sc.hdrs[i]
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.Flags = 0
		h.Len = 0
	}
	if err := s.recvLocked(n, noblock); err != nil {
		return 0, err
	}
	for i := range s.rgot {
		msgs[i].N = int(sc.hdrs[i].Len)
		msgs[i].Addr = sc.names[i].decode()
	}
	return s.rgot, nil
}

// recvLocked runs recvmmsg over the first n headers of s.r, waiting for
// data unless noblock; s.rgot is the number received.
func (s *Socket) recvLocked(n int, noblock bool) error {
	s.rn, s.rgot, s.rerr, s.rnoblock = n, 0, nil, noblock
	err := s.rc.Read(s.rfunc)
	if err == nil {
		err = s.rerr
	}
	if err != nil {
		return s.wrapErr("ReadBatch", err)
	}
	return nil
}

// recvmmsg runs on the poller's behalf; false means "would block, wait".
func (s *Socket) recvmmsg(fd uintptr) bool {
	for {
		// unsafe: the kernel reads and writes the mmsghdr array, which is
		// heap memory held by s.r (kept alive and unmoved for the call);
		// the pointers inside it reach only s.r's iovecs and sockaddrs,
		// the GRO buffers and control buffers, and the caller's buffers,
		// all heap memory alive for the call.
		// Raw: non-blocking socket, as in sendmmsgSys.
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.r.hdrs[0])), uintptr(s.rn), 0, 0, 0)
		switch e {
		case 0:
			s.rgot = int(r)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if s.rnoblock {
				return true
			}
			if s.kwait {
				if !s.kernelWait(fd, unix.POLLIN) {
					s.rerr = net.ErrClosed
					return true
				}
				continue
			}
			return false
		default:
			s.rerr = e
			return true
		}
	}
}

// groReader holds the GRO receive buffers and the datagrams received but
// not yet returned. It is guarded by Socket.rmu.
type groReader struct {
	bufs []byte       // n buffers of groBufSize, one per recvmmsg header
	pend []groPending // datagrams of the last recvmmsg, in order
	head int          // first pending datagram not fully returned
	npen int          // pending datagrams from head on
}

// groPending is one received datagram, possibly coalesced.
type groPending struct {
	n    int // bytes in its buffer
	seg  int // gso_size, or 0 when not coalesced
	off  int // bytes already returned
	addr netip.AddrPort
}

func newGROReader(n int) *groReader {
	return &groReader{bufs: make([]byte, n*groBufSize), pend: make([]groPending, n)}
}

func (g *groReader) buf(i int) []byte { return g.bufs[i*groBufSize : (i+1)*groBufSize] }

// readGROLocked returns pending datagrams first; once none are left it
// receives more, waiting only if msgs is still empty and not noblock. With
// view, the messages point into the GRO buffers instead of holding copies,
// and a call that returned pending datagrams receives nothing more (that
// would overwrite the buffers they point into).
func (s *Socket) readGROLocked(msgs []Message, noblock, view bool) (int, error) {
	g := s.gro
	out := g.drain(msgs, view)
	if out == len(msgs) || (view && out > 0) {
		return out, nil
	}
	sc := s.r
	n := min(len(g.pend), len(msgs)-out)
	for i := range n {
		sc.setIov(i, g.buf(i))
		h := &sc.hdrs[i]
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		c := sc.control(i)
		h.Hdr.Control = &c[0]
		h.Hdr.SetControllen(len(c))
		h.Hdr.Flags = 0
		h.Len = 0
	}
	if err := s.recvLocked(n, noblock || out > 0); err != nil {
		if out > 0 {
			return out, nil // the error recurs on the next call
		}
		return 0, err
	}
	for i := range s.rgot {
		h := &sc.hdrs[i]
		p := &g.pend[i]
		p.n = min(int(h.Len), groBufSize)
		p.off = 0
		p.addr = sc.names[i].decode()
		ctrl := sc.control(i)
		p.seg = groSize(ctrl[:min(int(h.Hdr.Controllen), len(ctrl))])
		if p.seg > 0 {
			s.groCoalesce.Add(1)
		}
	}
	g.head, g.npen = 0, s.rgot
	return out + g.drain(msgs[out:], view), nil
}

// drain copies pending datagrams, split at their segment size, into msgs
// (with view: points msgs at them) and returns how many it filled.
func (g *groReader) drain(msgs []Message, view bool) int {
	out := 0
	for out < len(msgs) && g.npen > 0 {
		p := &g.pend[g.head]
		end := p.n
		if p.seg > 0 {
			end = min(p.off+p.seg, p.n)
		}
		m := &msgs[out]
		if view {
			m.Buf = g.buf(g.head)[p.off:end:end]
			m.N = len(m.Buf)
		} else {
			m.N = copy(m.Buf, g.buf(g.head)[p.off:end])
		}
		m.Addr = p.addr
		out++
		p.off = end
		if p.off >= p.n {
			g.head++
			g.npen--
		}
	}
	return out
}
