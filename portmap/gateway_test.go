package portmap

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

func gatewayAt(t *testing.T, f *fakeIGD) Gateway {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g, err := GatewayAt(ctx, f.location(t))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGatewayIGD1OverSOAP(t *testing.T) {
	f := newFakeIGD(t, "WANIPConnection:1")
	g := gatewayAt(t, f)
	ctx := context.Background()
	if !strings.HasPrefix(g.String(), "WANIPConnection:1 at http://127.0.0.1:") {
		t.Errorf("String() = %q", g.String())
	}
	if got := g.LocalAddr(); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("LocalAddr() = %v, want 127.0.0.1 (the route toward the gateway)", got)
	}
	ip, err := g.ExternalIP(ctx)
	if err != nil || ip != netip.MustParseAddr("11.99.0.11") {
		t.Fatalf("ExternalIP() = %v, %v", ip, err)
	}
	internal := netip.MustParseAddrPort("127.0.0.1:3210")
	if err := g.AddPortMapping(ctx, 3210, internal, 30*time.Minute, "peercloud"); err != nil {
		t.Fatal(err)
	}
	want := fakeEntry{client: "127.0.0.1", port: 3210, lease: 1800, desc: "peercloud", proto: "UDP"}
	if e, ok := f.entry(3210); !ok || e != want {
		t.Fatalf("mapping = %+v, %v; want %+v", e, ok, want)
	}
	if _, err := g.AddAnyPortMapping(ctx, internal, time.Minute, "peercloud"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("AddAnyPortMapping on IGD1: %v, want ErrUnsupported", err)
	}
	f.taken[4000] = true
	err = g.AddPortMapping(ctx, 4000, internal, time.Minute, "peercloud")
	if err == nil || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrOnlyPermanentLeases) || !strings.Contains(err.Error(), "AddPortMapping 4000") {
		t.Errorf("conflicting port: %v", err)
	}
	if err := g.DeletePortMapping(ctx, 3210); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.entry(3210); ok {
		t.Error("mapping still there after DeletePortMapping")
	}
	if err := g.DeletePortMapping(ctx, 3210); err == nil {
		t.Error("deleting a missing mapping succeeded")
	}
}

func TestGatewayOnlyPermanentLeases(t *testing.T) {
	f := newFakeIGD(t, "WANIPConnection:1")
	f.onlyPermanent = true
	g := gatewayAt(t, f)
	internal := netip.MustParseAddrPort("127.0.0.1:3210")
	if err := g.AddPortMapping(context.Background(), 3210, internal, time.Minute, "x"); !errors.Is(err, ErrOnlyPermanentLeases) {
		t.Fatalf("lease on a permanent-only gateway: %v", err)
	}
	if err := g.AddPortMapping(context.Background(), 3210, internal, 0, "x"); err != nil {
		t.Fatal(err)
	}
}

func TestGatewayIGD2AnyPort(t *testing.T) {
	f := newFakeIGD(t, "WANIPConnection:2")
	f.taken[3210] = true
	g := gatewayAt(t, f)
	if !strings.HasPrefix(g.String(), "WANIPConnection:2") {
		t.Errorf("String() = %q", g.String())
	}
	port, err := g.AddAnyPortMapping(context.Background(), netip.MustParseAddrPort("127.0.0.1:3210"), time.Minute, "x")
	if err != nil || port != 3211 {
		t.Fatalf("AddAnyPortMapping = %d, %v; want 3211 (next free after the suggested port)", port, err)
	}
}

func TestGatewayPPP(t *testing.T) {
	f := newFakeIGD(t, "WANPPPConnection:1")
	g := gatewayAt(t, f)
	if !strings.HasPrefix(g.String(), "WANPPPConnection:1") {
		t.Errorf("String() = %q", g.String())
	}
	if _, err := g.ExternalIP(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestGatewayBadExternalIP(t *testing.T) {
	for _, s := range []string{"", "0.0.0.0", "not an address", "::"} {
		f := newFakeIGD(t, "WANIPConnection:1")
		f.externalIP = s
		if _, err := gatewayAt(t, f).ExternalIP(context.Background()); !errors.Is(err, ErrBadExternalIP) {
			t.Errorf("external %q: %v, want ErrBadExternalIP", s, err)
		}
	}
}

func TestGatewayAtNoGateway(t *testing.T) {
	cases := map[string]http.HandlerFunc{
		"404":     http.NotFound,
		"garbage": func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<<<\x00not xml")) },
		"no services": func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`<root xmlns="urn:schemas-upnp-org:device-1-0"><device><deviceType>x</deviceType></device></root>`))
		},
		"bad control url": func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`<root xmlns="urn:schemas-upnp-org:device-1-0"><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>http://[::1</controlURL></service></serviceList></device></root>`))
		},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			u, _ := url.Parse(srv.URL + "/rootDesc.xml")
			g, err := GatewayAt(context.Background(), u)
			if err == nil {
				// A description with an unusable control URL may still
				// produce a client; its calls must fail, not panic.
				if _, err := g.ExternalIP(context.Background()); err == nil {
					t.Fatal("a broken gateway answered")
				}
				return
			}
			if !errors.Is(err, ErrNoGateway) {
				t.Fatalf("GatewayAt: %v, want ErrNoGateway", err)
			}
		})
	}
}

func TestGatewayGarbageSOAPReplies(t *testing.T) {
	f := newFakeIGD(t, "WANIPConnection:1")
	g := gatewayAt(t, f)
	replies := []string{"", "<<<", "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault></s:Fault></s:Body></s:Envelope>", strings.Repeat("<a>", 1000)}
	for _, body := range replies {
		f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(body))
		})
		if _, err := g.ExternalIP(context.Background()); err == nil {
			t.Errorf("reply %q: no error", body)
		}
		if err := g.AddPortMapping(context.Background(), 1, netip.MustParseAddrPort("127.0.0.1:1"), 0, ""); err == nil {
			t.Errorf("reply %q: no error", body)
		}
	}
}

func TestClassify(t *testing.T) {
	if classify("x", nil) != nil {
		t.Error("nil error classified as an error")
	}
	plain := errors.New("boom")
	if err := classify("op", plain); !errors.Is(err, plain) || err.Error() != "op: boom" {
		t.Errorf("classify = %v", err)
	}
}

func TestSearchAddrsLeaveOutExcludedAndLoopback(t *testing.T) {
	all, err := searchAddrs(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if a.IsLoopback() || !a.Is4() {
			t.Errorf("search address %v: want IPv4 addresses of non-loopback interfaces only", a)
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(ifaces))
	for _, ifc := range ifaces {
		names = append(names, ifc.Name)
		addrs, _ := ifc.Addrs()
		rest, err := searchAddrs([]string{ifc.Name})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(ipn.IP)
				if slices.Contains(rest, ip.Unmap()) && !slices.Contains(all, ip.Unmap()) {
					t.Errorf("%v of %s appeared only when %s was excluded", ip, ifc.Name, ifc.Name)
				}
				if slices.Contains(rest, ip.Unmap()) {
					t.Errorf("%v of excluded interface %s is still searched from", ip, ifc.Name)
				}
			}
		}
	}
	if none, _ := searchAddrs(names); len(none) != 0 {
		t.Errorf("every interface excluded, still searching from %v", none)
	}
}
