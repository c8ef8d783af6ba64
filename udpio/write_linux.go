package udpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Kernel limits on one UDP_SEGMENT send: at most 64 segments (more on
// kernels from 6.11, but 64 everywhere), and the whole payload must fit one
// IP datagram.
const (
	gsoMaxSegments = 64
	gsoMaxBytesV4  = 1<<16 - 1 - 20 - 8 // IPv4 total length minus IP and UDP headers
	gsoMaxBytesV6  = 1<<16 - 1 - 8      // IPv6 payload length minus the UDP header
)

func gsoMaxBytes(a netip.AddrPort) int {
	if a.Addr().Is4() || a.Addr().Is4In6() {
		return gsoMaxBytesV4
	}
	return gsoMaxBytesV6
}

// WriteBatch implements Conn.
//
// With GSO, each run of consecutive messages to the same Addr whose sizes
// are equal (the last may be shorter) leaves as one sendmmsg header with a
// UDP_SEGMENT control message and one iovec per message: the kernel
// gathers the caller's buffers and cuts them back into the same datagrams,
// so nothing is copied here. Runs are cut at 64 messages and 64 KiB.
func (s *Socket) WriteBatch(msgs []Message) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	total, plain := 0, 0
	for total < len(msgs) {
		nh, used, encErr := s.buildLocked(msgs[total:], plain)
		plain = 0
		if nh > 0 {
			s.wn, s.wsent, s.werr = nh, 0, nil
			err := s.rc.Write(s.wfunc)
			for k := range s.wsent {
				total += s.w.counts[k]
			}
			if err == nil {
				err = s.werr
			}
			if err != nil {
				if s.wsent < nh && s.w.counts[s.wsent] > 1 && gsoRefused(err) {
					// Send the refused run again, one datagram per header.
					plain = s.w.counts[s.wsent]
					s.gsoRetried.Add(1)
					s.gsoFailedLocked(err)
					continue
				}
				return total, s.wrapErr("WriteBatch", err)
			}
			if used > 0 && encErr == nil {
				continue
			}
		}
		if encErr != nil {
			return total, fmt.Errorf("udpio.WriteBatch to %s: %w", msgs[total].Addr, encErr)
		}
		if nh == 0 {
			break // unreachable: a non-empty rest always builds a header or fails
		}
	}
	return total, nil
}

// gsoRefused tells whether a send with a UDP_SEGMENT control message may
// succeed without it: EIO (the device cannot checksum), EINVAL (a segment
// larger than the path MTU allows) or EMSGSIZE.
func gsoRefused(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EMSGSIZE)
}

// gsoFailedLocked turns GSO off after EIO, which means the kernel or
// device cannot do it at all; other refusals concern one run only.
func (s *Socket) gsoFailedLocked(err error) {
	if errors.Is(err, unix.EIO) && s.gso.CompareAndSwap(true, false) {
		s.log.Warn("UDP GSO refused by the kernel, sending datagrams one by one from now on", zap.Error(err))
	}
}

// buildLocked fills the write scratch from msgs: one header per message,
// or per run of messages when GSO is on, except that the first plain
// messages are never grouped. It returns the headers built, the messages
// they carry, and the reason msgs[used] could not be encoded, if any.
func (s *Socket) buildLocked(msgs []Message, plain int) (nh, used int, err error) {
	sc := s.w
	gso := s.gso.Load()
	iov := 0
	for used < len(msgs) && nh < len(sc.hdrs) && iov < len(sc.iovs) {
		m := &msgs[used]
		if m.N < 0 || m.N > len(m.Buf) {
			return nh, used, ErrBadMessage
		}
		l, err := sc.names[nh].encode(m.Addr, s.v6)
		if err != nil {
			return nh, used, err
		}
		h := &sc.hdrs[nh].Hdr
		h.Namelen = l
		h.Iov = &sc.iovs[iov]
		sc.setIov(iov, m.Buf[:m.N])
		count := 1
		if gso && used >= plain && m.N > 0 {
			count = s.gatherRunLocked(msgs[used:], iov)
		}
		h.SetIovlen(count)
		if count > 1 {
			c := sc.control(nh)
			h.Control = &c[0]
			h.SetControllen(putSegmentCmsg(c, uint16(m.N)))
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		h.Flags = 0
		sc.counts[nh] = count
		nh++
		iov += count
		used += count
	}
	return nh, used, nil
}

// gatherRunLocked extends the header whose first message is run[0], at
// iovec iov, with the messages after it that may share its UDP_SEGMENT
// send, and returns how many messages the header carries.
func (s *Socket) gatherRunLocked(run []Message, iov int) int {
	sc := s.w
	seg := run[0].N
	limit := gsoMaxBytes(run[0].Addr)
	total, count := seg, 1
	for count < len(run) && count < gsoMaxSegments && iov+count < len(sc.iovs) {
		m := &run[count]
		if m.Addr != run[0].Addr || m.N <= 0 || m.N > seg || m.N > len(m.Buf) || total+m.N > limit {
			break
		}
		sc.setIov(iov+count, m.Buf[:m.N])
		total += m.N
		count++
		if m.N < seg {
			break // a shorter segment ends the run
		}
	}
	return count
}

// sendmmsgSys is the sendmmsg system call; tests replace it to simulate a
// kernel or device refusing UDP_SEGMENT.
var sendmmsgSys = func(fd uintptr, hdrs []unix.Mmsghdr) (int, unix.Errno) {
	// unsafe: the kernel reads the mmsghdr array, which is heap memory
	// held by the socket's scratch (kept alive and unmoved for the call);
	// the pointers inside it reach only that scratch's iovecs, sockaddrs
	// and control buffers and the caller's buffers, all heap memory alive
	// for the call.
	// Raw: the socket is non-blocking, so the call never sleeps, and
	// skipping the runtime's syscall bookkeeping spares a wake-up of its
	// monitor thread per batch (see docs/ARCHITECTURE.md).
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), 0, 0, 0)
	return int(r), e
}

// sendmmsg runs on the poller's behalf; false means "would block, wait".
func (s *Socket) sendmmsg(fd uintptr) bool {
	for s.wsent < s.wn {
		r, e := sendmmsgSys(fd, s.w.hdrs[s.wsent:s.wn])
		switch e {
		case 0:
			for k := s.wsent; k < s.wsent+r; k++ {
				if s.w.counts[k] > 1 {
					s.gsoSent.Add(1)
				}
			}
			s.wsent += r
		case unix.EINTR:
		case unix.EAGAIN:
			if s.kwait {
				if !s.kernelWait(fd, unix.POLLOUT) {
					s.werr = net.ErrClosed
					return true
				}
				continue
			}
			return false
		default:
			s.werr = e
			return true
		}
	}
	return true
}
