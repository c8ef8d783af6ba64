package udpio

import (
	"fmt"
	"net/netip"
)

// ListenShards parses addr with ParseListen and opens n sockets bound to
// the same address and port with SO_REUSEPORT (opts.ReusePort is implied).
// The kernel spreads peers across them by a hash of the sender's address,
// so each shard sees a stable subset of peers; the data plane runs one
// reader per shard and may send on any of them (all share the source
// port). With port 0, the first socket's ephemeral port is shared by the
// rest. If the first socket falls back to IPv4 only, so do the others.
// On error every socket opened so far is closed.
func ListenShards(addr string, n int, opts Options) ([]*Socket, error) {
	ap, err := ParseListen(addr)
	if err != nil {
		return nil, err
	}
	return ListenShardsAddrPort(ap, n, opts)
}

// ListenShardsAddrPort is ListenShards for a parsed address.
func ListenShardsAddrPort(ap netip.AddrPort, n int, opts Options) ([]*Socket, error) {
	if n < 1 {
		return nil, fmt.Errorf("udpio.ListenShards %s: %d: %w", ap, n, ErrBadShards)
	}
	opts.ReusePort = true
	first, err := ListenAddrPort(ap, opts)
	if err != nil {
		return nil, err
	}
	socks := make([]*Socket, 1, n)
	socks[0] = first
	if !first.v6 {
		opts.ForceIPv4 = true
	}
	ap = netip.AddrPortFrom(ap.Addr(), first.local.Port())
	for len(socks) < n {
		s, err := ListenAddrPort(ap, opts)
		if err != nil {
			for _, s := range socks {
				s.Close()
			}
			return nil, fmt.Errorf("udpio.ListenShards shard %d: %w", len(socks), err)
		}
		socks = append(socks, s)
	}
	return socks, nil
}
