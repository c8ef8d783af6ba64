package tunio

import "encoding/binary"

// virtioHdrLen is sizeof(struct virtio_net_hdr) (include/uapi/linux/virtio_net.h),
// the header that prefixes every packet read from or written to a TUN
// opened with IFF_VNET_HDR (the default TUNSETVNETHDRSZ).
const virtioHdrLen = 10

// virtio_net_hdr flags and GSO types.
const (
	virtioFlagNeedsCsum = 1    // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum from csumStart, stored at csumStart+csumOffset
	gsoNone             = 0    // VIRTIO_NET_HDR_GSO_NONE
	gsoTCPv4            = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	gsoTCPv6            = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	gsoUDPL4            = 5    // VIRTIO_NET_HDR_GSO_UDP_L4 (USO)
	gsoECN              = 0x80 // VIRTIO_NET_HDR_GSO_ECN: the stream uses ECN (CWR on the first segment only)
)

// virtioHdr is struct virtio_net_hdr. A legacy TUN device uses the host's
// byte order for its 16-bit fields unless TUNSETVNETLE/BE says otherwise,
// which this package never sets.
type virtioHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16 // length of the headers to replicate (untrusted: see splitter.reset)
	gsoSize    uint16 // payload bytes per segment
	csumStart  uint16 // offset of the transport header
	csumOffset uint16 // offset of the checksum field within it
}

// decode parses b[:virtioHdrLen]; b must be at least that long.
func (h *virtioHdr) decode(b []byte) {
	_ = b[virtioHdrLen-1]
	h.flags, h.gsoType = b[0], b[1]
	h.hdrLen = binary.NativeEndian.Uint16(b[2:])
	h.gsoSize = binary.NativeEndian.Uint16(b[4:])
	h.csumStart = binary.NativeEndian.Uint16(b[6:])
	h.csumOffset = binary.NativeEndian.Uint16(b[8:])
}

// encode writes h into b[:virtioHdrLen]; b must be at least that long.
func (h *virtioHdr) encode(b []byte) {
	_ = b[virtioHdrLen-1]
	b[0], b[1] = h.flags, h.gsoType
	binary.NativeEndian.PutUint16(b[2:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[6:], h.csumStart)
	binary.NativeEndian.PutUint16(b[8:], h.csumOffset)
}
