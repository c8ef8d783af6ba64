package daemon

import (
	"context"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/portmap"
)

// startPortMapping asks a UPnP internet gateway, in the background, to
// forward the node's UDP port (VpnCloud's port-forwarding option) and
// publishes the mapping's external and internal addresses as the node's
// own addresses, so peers learn them from node info. It returns nil when
// port forwarding is off; otherwise the caller closes the Mapper after the
// node stops, which removes the mapping. The SSDP search leaves out the
// node's own device ifname (nothing is searched through the tunnel); a
// network without a gateway costs one log line after about two seconds and
// nothing else. lease is the lease to ask for (0: portmap's default).
func startPortMapping(ctx context.Context, on bool, local netip.AddrPort, lease time.Duration, ifname string, node *control.Node, log *zap.Logger) *portmap.Mapper {
	return startPortMappingWith(ctx, on, local, lease, node, portmap.DiscoverExcept(ifname), log)
}

// startPortMappingWith is startPortMapping with the gateway discovery
// given (tests pass a fake).
func startPortMappingWith(ctx context.Context, on bool, local netip.AddrPort, lease time.Duration, node *control.Node,
	discover func(context.Context) (portmap.Gateway, error), log *zap.Logger) *portmap.Mapper {
	if !on {
		return nil
	}
	var internal netip.Addr
	if a := local.Addr().Unmap(); a.Is4() && !a.IsUnspecified() {
		internal = a
	}
	publish := func(mp portmap.Mapping, add bool) {
		err := node.Do(ctx, func(n *control.Node) {
			for _, a := range []netip.AddrPort{mp.External, mp.Internal} {
				if add {
					n.AddExternalAddr(a)
				} else {
					n.RemoveExternalAddr(a)
				}
			}
		})
		if err != nil {
			log.Debug("port forwarding: node stopped before the addresses changed", zap.Error(err))
		}
	}
	m := portmap.New(portmap.Config{
		Port:       local.Port(),
		InternalIP: internal,
		Lease:      lease,
		Discover:   discover,
		OnMapped:   func(mp portmap.Mapping) { publish(mp, true) },
		OnUnmapped: func(mp portmap.Mapping) { publish(mp, false) },
		Log:        log,
	})
	m.Start(ctx)
	return m
}
