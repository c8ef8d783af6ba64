package udpio

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Control messages are read and written as bytes in the kernel's layout
// (struct cmsghdr: a size_t length, then level and type as int32), so no
// unsafe casts are needed and any malformed buffer is merely rejected.

// cmsgLenSize is the size of cmsghdr.cmsg_len: size_t on Linux.
const cmsgLenSize = unix.SizeofCmsghdr - 8

var (
	// gsoCtrlSize holds one SOL_UDP/UDP_SEGMENT message (a uint16).
	gsoCtrlSize = unix.CmsgSpace(2)
	// groCtrlSize has room for the UDP_GRO message (an int) and a spare
	// one, should the kernel ever add another.
	groCtrlSize = 2 * unix.CmsgSpace(4)
)

// cmsgAlign rounds n up to the alignment of control messages.
func cmsgAlign(n int) int {
	const a = cmsgLenSize // sizeof(long) on Linux
	return (n + a - 1) &^ (a - 1)
}

// putSegmentCmsg writes a SOL_UDP/UDP_SEGMENT control message for
// segments of size seg into b, which has gsoCtrlSize bytes, and returns
// the length to put in msg_controllen.
func putSegmentCmsg(b []byte, seg uint16) int {
	b = b[:gsoCtrlSize]
	clear(b)
	putCmsgHeader(b, unix.CmsgLen(2), unix.SOL_UDP, unix.UDP_SEGMENT)
	binary.NativeEndian.PutUint16(b[unix.SizeofCmsghdr:], seg)
	return gsoCtrlSize
}

func putCmsgHeader(b []byte, length, level, typ int) {
	if cmsgLenSize == 8 {
		binary.NativeEndian.PutUint64(b, uint64(length))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(length))
	}
	binary.NativeEndian.PutUint32(b[cmsgLenSize:], uint32(int32(level)))
	binary.NativeEndian.PutUint32(b[cmsgLenSize+4:], uint32(int32(typ)))
}

// groSize returns the segment size from a SOL_UDP/UDP_GRO control message
// in the received control data b, or 0 when there is none (the datagram
// was not coalesced) or the data is malformed or truncated.
func groSize(b []byte) int {
	for len(b) >= unix.SizeofCmsghdr {
		var l uint64
		if cmsgLenSize == 8 {
			l = binary.NativeEndian.Uint64(b)
		} else {
			l = uint64(binary.NativeEndian.Uint32(b))
		}
		if l < unix.SizeofCmsghdr || l > uint64(len(b)) {
			return 0
		}
		level := int32(binary.NativeEndian.Uint32(b[cmsgLenSize:]))
		typ := int32(binary.NativeEndian.Uint32(b[cmsgLenSize+4:]))
		data := b[unix.SizeofCmsghdr:l]
		if level == unix.SOL_UDP && typ == unix.UDP_GRO {
			switch {
			case len(data) >= 4:
				return max(int(int32(binary.NativeEndian.Uint32(data))), 0)
			case len(data) >= 2:
				return int(binary.NativeEndian.Uint16(data))
			default:
				return 0
			}
		}
		next := cmsgAlign(int(l))
		if next >= len(b) {
			return 0
		}
		b = b[next:]
	}
	return 0
}
