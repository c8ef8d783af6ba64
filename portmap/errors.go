package portmap

import "errors"

var (
	// ErrNoGateway: discovery found no UPnP internet gateway device.
	ErrNoGateway = errors.New("portmap: no UPnP internet gateway found")
	// ErrUnsupported: the gateway does not implement the action (UPnP
	// errors 401 and 602, or a WANIPConnection:1 asked for AddAnyPortMapping).
	ErrUnsupported = errors.New("portmap: action not supported by the gateway")
	// ErrOnlyPermanentLeases: the gateway refuses leases with an expiry
	// (UPnP error 725); ask again with a lease of 0.
	ErrOnlyPermanentLeases = errors.New("portmap: the gateway supports only permanent leases")
	// ErrNoPort: every port VpnCloud's order of attempts tries was refused.
	ErrNoPort = errors.New("portmap: the gateway refused every port tried")
	// ErrBadExternalIP: the gateway's external address is missing or not
	// an IP address.
	ErrBadExternalIP = errors.New("portmap: the gateway reported an unusable external address")
	// ErrNoLocalAddr: the host's address toward the gateway is unknown.
	ErrNoLocalAddr = errors.New("portmap: no local address toward the gateway")
)
