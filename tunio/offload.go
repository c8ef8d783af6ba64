package tunio

import "strings"

// Offloads is a set of TUN offloads. Open probes for each at start and
// falls back cleanly (logging once) when the kernel refuses one;
// (*Tun).Offloads reports what is active and Options.DisableOffloads turns
// any of them off.
type Offloads uint8

const (
	// OffloadVnetHdr is IFF_VNET_HDR with TUN_F_CSUM: every packet carries
	// a virtio_net_hdr and the kernel may leave checksums for tunio to
	// complete. The other offloads need it; disabling it disables all.
	OffloadVnetHdr Offloads = 1 << iota
	// OffloadTSO is TUN_F_TSO4|TUN_F_TSO6: Read splits TCP superpackets
	// into segments and Write coalesces TCP segments into superpackets.
	OffloadTSO
	// OffloadUSO is TUN_F_USO4|TUN_F_USO6 (Linux 6.2+): the same for UDP.
	OffloadUSO
)

// AllOffloads is every offload this package knows.
const AllOffloads = OffloadVnetHdr | OffloadTSO | OffloadUSO

// String lists the offloads as "vnethdr|tso|uso", or "none".
func (o Offloads) String() string {
	if o == 0 {
		return "none"
	}
	var parts []string
	for _, f := range []struct {
		o    Offloads
		name string
	}{{OffloadVnetHdr, "vnethdr"}, {OffloadTSO, "tso"}, {OffloadUSO, "uso"}} {
		if o&f.o != 0 {
			parts = append(parts, f.name)
			o &^= f.o
		}
	}
	if o != 0 {
		parts = append(parts, "unknown")
	}
	return strings.Join(parts, "|")
}
