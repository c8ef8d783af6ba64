package portmap

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

// TestGatewayMangledReplies serves mangled device descriptions and SOAP
// replies (truncated, bytes flipped, bytes inserted; a fixed random seed)
// to the real goupnp client: every call fails or succeeds cleanly, never
// panics, and an accepted external address is a usable one. (A go fuzz
// target over HTTP makes no progress under the fuzzing engine, so this is
// a seeded random test instead.)
func TestGatewayMangledReplies(t *testing.T) {
	seeds := []string{
		`<root xmlns="urn:schemas-upnp-org:device-1-0"><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl</controlURL></service></serviceList></device></root>`,
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddressResponse><NewExternalIPAddress>11.99.0.11</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>`,
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:AddAnyPortMappingResponse><NewReservedPort>40000</NewReservedPort></u:AddAnyPortMappingResponse></s:Body></s:Envelope>`,
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><detail><UPnPError><errorCode>725</errorCode></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
	}
	const desc = `<root xmlns="urn:schemas-upnp-org:device-1-0"><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>/ctl</controlURL></service></serviceList></device></root>`
	rng := rand.New(rand.NewPCG(7, 11))
	var body []byte
	status := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/good.xml" {
			w.Write([]byte(desc))
			return
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	defer srv.Close()
	const junk = "<>/\"&:x0 \x00"
	mangle := func(s string) []byte {
		b := []byte(s)
		for range 1 + rng.IntN(4) {
			switch i := rng.IntN(len(b) + 1); rng.IntN(3) {
			case 0:
				b = b[:i]
			case 1:
				if i < len(b) {
					b[i] = byte(rng.IntN(256))
				}
			default:
				b = append(b[:i], append([]byte{junk[rng.IntN(len(junk))]}, b[i:]...)...)
			}
			if len(b) == 0 {
				break
			}
		}
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := netip.MustParseAddrPort("127.0.0.1:3210")
	for range 400 {
		body = mangle(seeds[rng.IntN(len(seeds))])
		status = []int{200, 200, 500, 404}[rng.IntN(4)]
		u, _ := url.Parse(srv.URL + "/fuzz.xml")
		if g, err := GatewayAt(ctx, u); err == nil {
			// Only a control URL on the test server is called: a mangled
			// description may point anywhere, and tests stay on loopback.
			if ug, ok := g.(*upnpGateway); ok && ug.c.GetServiceClient().SOAPClient.EndpointURL.Host == srv.Listener.Addr().String() {
				g.ExternalIP(ctx)
			}
		}
		u, _ = url.Parse(srv.URL + "/good.xml")
		g, err := GatewayAt(ctx, u)
		if err != nil {
			t.Fatalf("the good description failed: %v", err)
		}
		if ip, err := g.ExternalIP(ctx); err == nil && (!ip.IsValid() || ip.IsUnspecified()) {
			t.Fatalf("reply %q: unusable external address %v accepted", body, ip)
		}
		g.AddPortMapping(ctx, 3210, in, time.Minute, "x")
		if p, err := g.AddAnyPortMapping(ctx, in, time.Minute, "x"); err == nil && p == 0 {
			t.Logf("reply %q: AddAnyPortMapping granted port 0 (the Mapper refuses it)", body)
		}
		g.DeletePortMapping(ctx, 3210)
	}
}
