// Package pcap reads classic pcap capture files (both byte orders,
// microsecond and nanosecond timestamps, Ethernet link type) and yields the
// UDP datagrams in them: timestamp, source and destination address with port,
// and payload, over IPv4 and IPv6. Everything that is not UDP is skipped.
// It exists for tests that replay captures of real VpnCloud traffic; it is
// not on any data path.
package pcap

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"
)

const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d

	linkTypeEthernet = 1

	fileHeaderLen   = 24
	recordHeaderLen = 16
	// maxRecordLen bounds one record's captured length whatever the header
	// claims (the largest snap length tools write is 262144).
	maxRecordLen = 262144

	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86DD
	etherTypeVLAN = 0x8100

	protoUDP = 17
)

// Packet is one UDP datagram of a capture.
type Packet struct {
	Time    time.Time
	Src     netip.AddrPort
	Dst     netip.AddrPort
	Payload []byte // owned by the caller; not reused by the Reader
}

// Reader reads UDP datagrams from a classic pcap stream. It is not safe for
// concurrent use.
type Reader struct {
	r     *bufio.Reader
	order binary.ByteOrder
	nano  bool
	hdr   [recordHeaderLen]byte
}

// NewReader reads the file header from r and returns a Reader positioned at
// the first record.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReader(r)
	var h [fileHeaderLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("pcap.NewReader: file header: %w", ErrTruncated)
	}
	rd := &Reader{r: br}
	switch {
	case binary.LittleEndian.Uint32(h[:]) == magicMicro:
		rd.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[:]) == magicMicro:
		rd.order = binary.BigEndian
	case binary.LittleEndian.Uint32(h[:]) == magicNano:
		rd.order, rd.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[:]) == magicNano:
		rd.order, rd.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("pcap.NewReader: magic %x: %w", h[:4], ErrBadMagic)
	}
	// The link type is the low 16 bits of the last header word; the upper
	// bits may carry FCS information.
	if lt := rd.order.Uint32(h[20:]) & 0xffff; lt != linkTypeEthernet {
		return nil, fmt.Errorf("pcap.NewReader: link type %d: %w", lt, ErrLinkType)
	}
	return rd, nil
}

// Next returns the next UDP datagram, skipping every other record. It
// returns io.EOF after the last record, ErrTruncated if the file ends inside
// a record, ErrBadRecord for an impossible record header (both final), and
// ErrShortPacket for a UDP datagram cut short (after which Next goes on).
func (rd *Reader) Next() (Packet, error) {
	for {
		if _, err := io.ReadFull(rd.r, rd.hdr[:]); err != nil {
			if err == io.EOF {
				return Packet{}, io.EOF
			}
			return Packet{}, fmt.Errorf("pcap.Next: record header: %w", ErrTruncated)
		}
		sec := rd.order.Uint32(rd.hdr[0:])
		frac := rd.order.Uint32(rd.hdr[4:])
		capLen := rd.order.Uint32(rd.hdr[8:])
		if capLen > maxRecordLen {
			return Packet{}, fmt.Errorf("pcap.Next: captured length %d: %w", capLen, ErrBadRecord)
		}
		data := make([]byte, capLen)
		if _, err := io.ReadFull(rd.r, data); err != nil {
			return Packet{}, fmt.Errorf("pcap.Next: record data: %w", ErrTruncated)
		}
		nsec := int64(frac)
		if !rd.nano {
			nsec *= 1000
		}
		p, ok, err := parseEthernet(data)
		if err != nil {
			return Packet{}, fmt.Errorf("pcap.Next: %w", err)
		}
		if !ok {
			continue
		}
		p.Time = time.Unix(int64(sec), nsec).UTC()
		return p, nil
	}
}

// ReadFile returns every UDP datagram of the capture at path.
func ReadFile(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pcap.ReadFile: %w", err)
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("pcap.ReadFile %s: %w", path, err)
	}
	var out []Packet
	for {
		p, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pcap.ReadFile %s packet %d: %w", path, len(out), err)
		}
		out = append(out, p)
	}
}

// parseEthernet extracts a UDP datagram from an Ethernet frame. ok is false
// for frames that carry no (unfragmented) UDP datagram.
func parseEthernet(f []byte) (p Packet, ok bool, err error) {
	if len(f) < 14 {
		return Packet{}, false, nil
	}
	etherType := binary.BigEndian.Uint16(f[12:])
	f = f[14:]
	for etherType == etherTypeVLAN && len(f) >= 4 {
		etherType = binary.BigEndian.Uint16(f[2:])
		f = f[4:]
	}
	switch etherType {
	case etherTypeIPv4:
		return parseIPv4(f)
	case etherTypeIPv6:
		return parseIPv6(f)
	}
	return Packet{}, false, nil
}

func parseIPv4(b []byte) (Packet, bool, error) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return Packet{}, false, nil
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	fragment := binary.BigEndian.Uint16(b[6:]) & 0x3fff // MF flag + offset
	if b[9] != protoUDP || fragment != 0 {
		return Packet{}, false, nil
	}
	if ihl < 20 || total < ihl || len(b) < total {
		return Packet{}, false, fmt.Errorf("IPv4 header: %w", ErrShortPacket)
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	return parseUDP(b[ihl:total], src, dst)
}

func parseIPv6(b []byte) (Packet, bool, error) {
	if len(b) < 40 || b[0]>>4 != 6 {
		return Packet{}, false, nil
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	next := b[6]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	if len(b) < 40+plen {
		return Packet{}, false, fmt.Errorf("IPv6 header: %w", ErrShortPacket)
	}
	b = b[40 : 40+plen]
	// Walk hop-by-hop (0), routing (43) and destination-options (60)
	// headers; a fragment header (44) or anything else ends the search.
	for next == 0 || next == 43 || next == 60 {
		if len(b) < 8 {
			return Packet{}, false, nil
		}
		n := (int(b[1]) + 1) * 8
		if len(b) < n {
			return Packet{}, false, nil
		}
		next, b = b[0], b[n:]
	}
	if next != protoUDP {
		return Packet{}, false, nil
	}
	return parseUDP(b, src, dst)
}

func parseUDP(b []byte, src, dst netip.Addr) (Packet, bool, error) {
	if len(b) < 8 {
		return Packet{}, false, fmt.Errorf("UDP header: %w", ErrShortPacket)
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if n < 8 || n > len(b) {
		return Packet{}, false, fmt.Errorf("UDP length %d of %d: %w", n, len(b), ErrShortPacket)
	}
	return Packet{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
		Payload: b[8:n],
	}, true, nil
}
