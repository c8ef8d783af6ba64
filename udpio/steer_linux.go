package udpio

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrSteerShards is returned by SteerSmall for fewer than two shards.
var ErrSteerShards = errors.New("steering small datagrams needs at least two shards")

// SteerSmall attaches a socket-selection program (SO_ATTACH_REUSEPORT_CBPF)
// to the reuseport group of shards, as opened by ListenShards: every
// datagram with at most max bytes of payload goes to shards[0], every
// larger one to shards[1 + hash % (len(shards)-1)], where hash is the
// packet's receive hash when the kernel has one (else 0: shards[1]).
// shards[0] then never holds bulk data, so its reader gets a small
// datagram (a ping, a TCP ACK in the tunnel) without waiting behind the
// coalesced datagrams of a saturating stream. A datagram's length, not its
// sender, picks the shard. The program holds until the sockets close.
func SteerSmall(shards []*Socket, max int) error {
	if len(shards) < 2 {
		return fmt.Errorf("udpio: steering: %w", ErrSteerShards)
	}
	prog := steerSmallProg(max, len(shards)-1)
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	var serr error
	err := shards[0].rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fp)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("udpio: steering %s: SO_ATTACH_REUSEPORT_CBPF: %w", shards[0].local, err)
	}
	return nil
}

// Classic BPF ancillary load of skb->hash (linux/filter.h).
const skfAdRxhash = 1<<32 - 0x1000 + 32 // SKF_AD_OFF (-0x1000) + SKF_AD_RXHASH, as a uint32

// steerSmallProg is the program of SteerSmall: it returns the index of
// the socket in the reuseport group (bind order), on the payload (the
// kernel has pulled the UDP header).
func steerSmallProg(max, bulk int) []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_LEN},                         // A = payload length
		{Code: unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, Jt: 1, K: uint32(max)}, // A > max: bulk
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},                                 // small: shard 0
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdRxhash},
		{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(bulk)},
		{Code: unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K, K: 1},
		{Code: unix.BPF_RET | unix.BPF_A},
	}
}
