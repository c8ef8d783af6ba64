package tunio

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrSteerQueues is returned by SteerSmall for a device with fewer than
// two queues.
var ErrSteerQueues = errors.New("steering small packets needs at least two queues")

// SteerSmall attaches a queue-selection program to the device
// (TUNSETSTEERINGEBPF): every packet of at most max bytes the kernel sends
// to the device goes to queue 0, every larger one to queue
// 1 + hash % (queues-1), where hash is the packet's flow hash when the
// kernel has computed one (TCP sockets set it; otherwise it is 0 and the
// packet goes to queue 1). Queue 0 then never holds bulk data, so a
// reader of its own delivers a ping, a TCP ACK or a DNS query without
// waiting behind the superpackets of a saturating stream.
//
// It replaces the kernel's own spreading of flows by hash; a packet's
// length, not its flow, picks the queue, so a flow that mixes small and
// large packets may be reordered between the two. Loading the program needs
// CAP_BPF or CAP_SYS_ADMIN; on failure the device keeps its previous
// steering.
func (t *Tun) SteerSmall(max int) error {
	if len(t.queues) < 2 {
		return fmt.Errorf("tunio: steering %s: %w", t.name, ErrSteerQueues)
	}
	prog := steerSmallProg(max, len(t.queues)-1)
	fd, err := loadSocketFilter(prog)
	if err != nil {
		return fmt.Errorf("tunio: steering %s: %w", t.name, err)
	}
	defer unix.Close(fd) // the device keeps its own reference
	var ioErr error
	err = t.queues[0].rc.Control(func(qfd uintptr) {
		pfd := int32(fd)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, qfd, unix.TUNSETSTEERINGEBPF, uintptr(unsafe.Pointer(&pfd)))
		if e != 0 {
			ioErr = e
		}
	})
	if err == nil {
		err = ioErr
	}
	if err != nil {
		return fmt.Errorf("tunio: steering %s: TUNSETSTEERINGEBPF: %w", t.name, err)
	}
	return nil
}

// eBPF instructions (linux/bpf.h): one 64-bit word each, opcode in the low
// byte, then the destination and source registers, a 16-bit offset and a
// 32-bit immediate.
const (
	bpfLdxMemW   = 0x61 // dst = *(u32 *)(src + off)
	bpfJgtImm    = 0x25 // if dst > imm goto pc + off
	bpfMov64Imm  = 0xb7 // dst = imm
	bpfMod32Imm  = 0x94 // dst = (u32)dst % imm
	bpfAdd64Imm  = 0x07 // dst += imm
	bpfExit      = 0x95 // return r0
	skbLenOff    = 0    // offsetof(struct __sk_buff, len)
	skbHashOff   = 68   // offsetof(struct __sk_buff, hash)
	regR0, regR1 = 0, 1
)

func bpfInsn(op, dst, src uint8, off int16, imm int32) uint64 {
	return uint64(op) | uint64(dst&0xf|src<<4)<<8 | uint64(uint16(off))<<16 | uint64(uint32(imm))<<32
}

// steerSmallProg is the program of SteerSmall: the returned value is the
// queue (the kernel takes it modulo the number of queues).
func steerSmallProg(max, bulkQueues int) []uint64 {
	return []uint64{
		bpfInsn(bpfLdxMemW, regR0, regR1, skbLenOff, 0), // r0 = skb->len
		bpfInsn(bpfJgtImm, regR0, 0, 2, int32(max)),     // if r0 > max: bulk
		bpfInsn(bpfMov64Imm, regR0, 0, 0, 0),            // r0 = 0
		bpfInsn(bpfExit, 0, 0, 0, 0),
		bpfInsn(bpfLdxMemW, regR0, regR1, skbHashOff, 0),     // bulk: r0 = skb->hash
		bpfInsn(bpfMod32Imm, regR0, 0, 0, int32(bulkQueues)), // r0 %= bulk queues
		bpfInsn(bpfAdd64Imm, regR0, 0, 0, 1),                 // r0 += 1
		bpfInsn(bpfExit, 0, 0, 0, 0),
	}
}

// bpfProgLoadAttr is the head of union bpf_attr as BPF_PROG_LOAD reads it;
// the kernel takes the fields it does not see as zero.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
}

// loadSocketFilter loads prog as a BPF_PROG_TYPE_SOCKET_FILTER program and
// returns its fd. A refusal by the verifier carries the verifier's log.
func loadSocketFilter(prog []uint64) (int, error) {
	license := []byte("GPL\x00")
	var vlog [1024]byte
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_SOCKET_FILTER,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1,
		logSize:  uint32(len(vlog)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&vlog[0]))),
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(prog)
	runtime.KeepAlive(license)
	if errno != 0 {
		if n := clen(vlog[:]); n > 0 {
			return -1, fmt.Errorf("BPF_PROG_LOAD: %w: %s", errno, vlog[:n])
		}
		return -1, fmt.Errorf("BPF_PROG_LOAD: %w", errno)
	}
	return int(fd), nil
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}
