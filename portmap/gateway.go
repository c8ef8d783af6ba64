package portmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/httpu"
	"github.com/huin/goupnp/soap"
	"github.com/huin/goupnp/ssdp"
)

// Gateway is one internet gateway's port-mapping service. A Mapper calls it
// from its single goroutine; implementations need not be safe for
// concurrent use. Every method honours ctx. Errors wrap ErrUnsupported and
// ErrOnlyPermanentLeases where the gateway said so.
type Gateway interface {
	// AddPortMapping forwards UDP traffic arriving on the gateway's
	// external port to internal, for lease (0: permanent). Asking again
	// for the same port and internal address renews the lease.
	AddPortMapping(ctx context.Context, external uint16, internal netip.AddrPort, lease time.Duration, desc string) error
	// AddAnyPortMapping lets the gateway choose a free external port and
	// returns it; ErrUnsupported when the gateway cannot (IGD version 1).
	AddAnyPortMapping(ctx context.Context, internal netip.AddrPort, lease time.Duration, desc string) (uint16, error)
	// DeletePortMapping removes the UDP mapping of an external port.
	DeletePortMapping(ctx context.Context, external uint16) error
	// ExternalIP is the gateway's address on its WAN side.
	ExternalIP(ctx context.Context) (netip.Addr, error)
	// LocalAddr is this host's address toward the gateway (the internal
	// client of the mappings).
	LocalAddr() netip.Addr
	// String names the gateway for logs.
	String() string
}

// upnpClient is what the goupnp WANIPConnection1/2 and WANPPPConnection1
// clients have in common.
type upnpClient interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16,
		intClient string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	GetServiceClient() *goupnp.ServiceClient
}

// anyPortClient is the IGD2 action that lets the gateway pick a port.
type anyPortClient interface {
	AddAnyPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16,
		intClient string, enabled bool, desc string, lease uint32) (uint16, error)
}

var (
	_ upnpClient    = (*internetgateway2.WANIPConnection1)(nil)
	_ upnpClient    = (*internetgateway2.WANIPConnection2)(nil)
	_ upnpClient    = (*internetgateway2.WANPPPConnection1)(nil)
	_ anyPortClient = (*internetgateway2.WANIPConnection2)(nil)
	_ Gateway       = (*upnpGateway)(nil)
)

// upnpGateway is a Gateway over goupnp's SOAP clients.
type upnpGateway struct {
	c     upnpClient
	kind  string
	local netip.Addr
}

// UPnP error codes (UPnP IGD WANIPConnection:2 service, section 2.4).
const (
	upnpInvalidAction       = 401
	upnpNotImplemented      = 602
	upnpOnlyPermanentLeases = 725
)

// classify maps SOAP faults the Mapper acts on to sentinel errors and wraps
// the rest with the operation.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var fault *soap.SOAPFaultError
	if errors.As(err, &fault) {
		switch fault.Detail.UPnPError.Errorcode {
		case upnpInvalidAction, upnpNotImplemented:
			return fmt.Errorf("%s: %w (%v)", op, ErrUnsupported, err)
		case upnpOnlyPermanentLeases:
			return fmt.Errorf("%s: %w (%v)", op, ErrOnlyPermanentLeases, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func leaseSeconds(d time.Duration) uint32 {
	s := d / time.Second
	return uint32(min(max(s, 0), 1<<31))
}

func (g *upnpGateway) AddPortMapping(ctx context.Context, external uint16, internal netip.AddrPort, lease time.Duration, desc string) error {
	err := g.c.AddPortMappingCtx(ctx, "", external, "UDP", internal.Port(), internal.Addr().String(), true, desc, leaseSeconds(lease))
	return classify(fmt.Sprintf("AddPortMapping %d", external), err)
}

func (g *upnpGateway) AddAnyPortMapping(ctx context.Context, internal netip.AddrPort, lease time.Duration, desc string) (uint16, error) {
	ac, ok := g.c.(anyPortClient)
	if !ok {
		return 0, fmt.Errorf("AddAnyPortMapping on %s: %w", g.kind, ErrUnsupported)
	}
	// The suggested external port is the internal one, as miniupnpc does.
	port, err := ac.AddAnyPortMappingCtx(ctx, "", internal.Port(), "UDP", internal.Port(), internal.Addr().String(), true, desc, leaseSeconds(lease))
	if err != nil {
		return 0, classify("AddAnyPortMapping", err)
	}
	return port, nil
}

func (g *upnpGateway) DeletePortMapping(ctx context.Context, external uint16) error {
	return classify(fmt.Sprintf("DeletePortMapping %d", external), g.c.DeletePortMappingCtx(ctx, "", external, "UDP"))
}

func (g *upnpGateway) ExternalIP(ctx context.Context) (netip.Addr, error) {
	s, err := g.c.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return netip.Addr{}, classify("GetExternalIPAddress", err)
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || ip.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("GetExternalIPAddress %q: %w", s, ErrBadExternalIP)
	}
	return ip.Unmap(), nil
}

func (g *upnpGateway) LocalAddr() netip.Addr { return g.local }

func (g *upnpGateway) String() string {
	return g.kind + " at " + g.c.GetServiceClient().Location.String()
}

// newUPnPGateway wraps a goupnp client and works out the local address:
// the one discovery saw the gateway from, else the source address the
// kernel picks toward the control URL's host (a UDP connect sends nothing).
func newUPnPGateway(c upnpClient, kind string, local netip.Addr) (*upnpGateway, error) {
	if local.IsValid() && !local.IsUnspecified() {
		return &upnpGateway{c: c, kind: kind, local: local}, nil
	}
	sc := c.GetServiceClient()
	u := sc.SOAPClient.EndpointURL
	port := u.Port()
	if port == "" {
		port = "80"
	}
	conn, err := net.Dial("udp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("finding the local address toward %s: %w: %w", u.Host, ErrNoLocalAddr, err)
	}
	defer conn.Close()
	ap, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		return nil, fmt.Errorf("finding the local address toward %s: %w: %w", u.Host, ErrNoLocalAddr, err)
	}
	return &upnpGateway{c: c, kind: kind, local: ap.Addr().Unmap()}, nil
}

// The service types in order of preference.
var serviceKinds = []string{
	internetgateway2.URN_WANIPConnection_2,
	internetgateway2.URN_WANIPConnection_1,
	internetgateway2.URN_WANPPPConnection_1,
}

func wrapClients(kind string, generic []goupnp.ServiceClient) []upnpClient {
	out := make([]upnpClient, 0, len(generic))
	for i := range generic {
		switch kind {
		case internetgateway2.URN_WANIPConnection_2:
			out = append(out, &internetgateway2.WANIPConnection2{ServiceClient: generic[i]})
		case internetgateway2.URN_WANIPConnection_1:
			out = append(out, &internetgateway2.WANIPConnection1{ServiceClient: generic[i]})
		case internetgateway2.URN_WANPPPConnection_1:
			out = append(out, &internetgateway2.WANPPPConnection1{ServiceClient: generic[i]})
		}
	}
	return out
}

// shortKind turns "urn:schemas-upnp-org:service:WANIPConnection:2" into
// "WANIPConnection:2".
func shortKind(urn string) string {
	return strings.TrimPrefix(urn, "urn:schemas-upnp-org:service:")
}

// localClient is a client and the local address its device answered on
// (invalid when unknown).
type localClient struct {
	c     upnpClient
	local netip.Addr
}

// pick returns the first client, in order of preference, that works as a
// Gateway.
func pick(found [][]localClient) (Gateway, error) {
	var errs []error
	for i, clients := range found {
		for _, lc := range clients {
			g, err := newUPnPGateway(lc.c, shortKind(serviceKinds[i]), lc.local)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			return g, nil
		}
	}
	return nil, errors.Join(append([]error{ErrNoGateway}, errs...)...)
}

// Discover searches the networks this host is on for an internet gateway
// and returns the preferred one; it is DiscoverExcept with no exclusions.
func Discover(ctx context.Context) (Gateway, error) { return discover(ctx, nil) }

// DiscoverExcept returns a discovery that leaves out the named interfaces:
// the node's own TUN/TAP device, so that no search goes into the tunnel
// and no router at another site answers through it.
//
// The search sends SSDP M-SEARCH requests for the three service types at
// once from every IPv4 address of every up, multicast-capable,
// non-loopback interface, and waits searchWindow for answers; fetching a
// found device's description is bounded by ctx and three seconds. With no
// gateway present it fails with ErrNoGateway.
func DiscoverExcept(exclude ...string) func(context.Context) (Gateway, error) {
	return func(ctx context.Context) (Gateway, error) { return discover(ctx, exclude) }
}

// searchWindow is how long discovery waits for SSDP answers (goupnp's
// own discovery waits as long).
const searchWindow = 2 * time.Second

func discover(ctx context.Context, exclude []string) (Gateway, error) {
	addrs, err := searchAddrs(exclude)
	if err != nil {
		return nil, fmt.Errorf("portmap.Discover: %w", err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("portmap.Discover: no interface to search from: %w", ErrNoGateway)
	}
	sctx, cancel := context.WithTimeout(ctx, searchWindow)
	defer cancel()
	answers := make([][]*http.Response, len(serviceKinds))
	errs := make([]error, len(serviceKinds))
	var wg sync.WaitGroup
	for i, kind := range serviceKinds {
		wg.Go(func() { answers[i], errs[i] = search(sctx, addrs, kind) })
	}
	wg.Wait()
	// Each answer names a device description; fetch each once.
	roots := map[string]*goupnp.RootDevice{}
	found := make([][]localClient, len(serviceKinds))
	for i, kind := range serviceKinds {
		for _, resp := range answers[i] {
			loc, err := resp.Location()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			root, seen := roots[loc.String()]
			if !seen {
				root, err = goupnp.DeviceByURLCtx(ctx, loc)
				if err != nil {
					errs = append(errs, err)
				}
				roots[loc.String()] = root
			}
			if root == nil {
				continue
			}
			generic, err := goupnp.NewServiceClientsFromRootDevice(root, loc, kind)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			local, _ := netip.ParseAddr(resp.Header.Get(httpu.LocalAddressHeader))
			for _, c := range wrapClients(kind, generic) {
				found[i] = append(found[i], localClient{c, local.Unmap()})
			}
		}
	}
	g, err := pick(found)
	if err != nil {
		return nil, fmt.Errorf("portmap.Discover: %w", errors.Join(append([]error{err}, errs...)...))
	}
	return g, nil
}

// searchAddrs lists the IPv4 addresses to search from: those of up,
// multicast-capable, non-loopback interfaces not named in exclude.
func searchAddrs(exclude []string) ([]netip.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []netip.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagMulticast == 0 || ifc.Flags&net.FlagLoopback != 0 || slices.Contains(exclude, ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap().Is4() {
					out = append(out, ip.Unmap())
				}
			}
		}
	}
	return out, nil
}

// search sends one service type's M-SEARCH from every address (a socket
// each) and collects the answers until ctx ends.
func search(ctx context.Context, addrs []netip.Addr, kind string) ([]*http.Response, error) {
	clients := make([]httpu.ClientInterfaceCtx, 0, len(addrs))
	for _, a := range addrs {
		c, err := httpu.NewHTTPUClientAddr(a.String())
		if err != nil {
			continue // an address that went away
		}
		defer c.Close()
		clients = append(clients, c)
	}
	if len(clients) == 0 {
		return nil, ErrNoGateway
	}
	return ssdp.RawSearch(ctx, httpu.NewMultiClientCtx(clients), kind, 2)
}

// GatewayAt uses the gateway whose device description is at loc (as an
// SSDP answer's LOCATION), skipping the search.
func GatewayAt(ctx context.Context, loc *url.URL) (Gateway, error) {
	root, err := goupnp.DeviceByURLCtx(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("portmap.GatewayAt %s: %w: %w", loc, ErrNoGateway, err)
	}
	found := make([][]localClient, len(serviceKinds))
	for i, kind := range serviceKinds {
		generic, err := goupnp.NewServiceClientsFromRootDevice(root, loc, kind)
		if err == nil {
			for _, c := range wrapClients(kind, generic) {
				found[i] = append(found[i], localClient{c: c})
			}
		}
	}
	g, err := pick(found)
	if err != nil {
		return nil, fmt.Errorf("portmap.GatewayAt %s: %w", loc, err)
	}
	return g, nil
}
