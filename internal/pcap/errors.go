package pcap

import "errors"

// Sentinel errors, wrapped with the failing operation; test with errors.Is.
var (
	// ErrBadMagic: the file does not start with a classic pcap magic number.
	ErrBadMagic = errors.New("pcap: not a classic pcap file")
	// ErrLinkType: the capture's link type is not Ethernet (1).
	ErrLinkType = errors.New("pcap: link type is not Ethernet")
	// ErrTruncated: the file ends inside a header or record.
	ErrTruncated = errors.New("pcap: truncated file")
	// ErrBadRecord: a record header with an impossible captured length.
	ErrBadRecord = errors.New("pcap: bad record header")
	// ErrShortPacket: a UDP packet whose headers or payload were cut short
	// (by the snap length or a bad length field). The record is consumed;
	// Next may be called again.
	ErrShortPacket = errors.New("pcap: UDP packet cut short")
)
