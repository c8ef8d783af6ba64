package portmap

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeIGD is a minimal UPnP internet gateway device over HTTP: the device
// description goupnp fetches and a SOAP control endpoint for one WAN
// connection service, keeping its port mappings in memory.
type fakeIGD struct {
	srv     *httptest.Server
	service string // e.g. "WANIPConnection:1"

	mu            sync.Mutex
	externalIP    string
	onlyPermanent bool
	taken         map[uint16]bool // ports another host holds
	mappings      map[uint16]fakeEntry
	actions       []string
}

type fakeEntry struct {
	client string
	port   uint16
	lease  uint32
	desc   string
	proto  string
}

func newFakeIGD(t *testing.T, service string) *fakeIGD {
	t.Helper()
	f := &fakeIGD{service: service, externalIP: "11.99.0.11", taken: map[uint16]bool{}, mappings: map[uint16]fakeEntry{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/rootDesc.xml", f.description)
	mux.HandleFunc("/ctl", f.control)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIGD) location(t *testing.T) *url.URL {
	u, err := url.Parse(f.srv.URL + "/rootDesc.xml")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fakeIGD) description(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
 <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
 <friendlyName>fake router</friendlyName><UDN>uuid:00000000-0000-0000-0000-000000000001</UDN>
 <deviceList><device>
  <deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><UDN>uuid:00000000-0000-0000-0000-000000000002</UDN>
  <deviceList><device>
   <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><UDN>uuid:00000000-0000-0000-0000-000000000003</UDN>
   <serviceList><service>
    <serviceType>urn:schemas-upnp-org:service:%s</serviceType>
    <serviceId>urn:upnp-org:serviceId:WANConn1</serviceId>
    <SCPDURL>/scpd.xml</SCPDURL><controlURL>/ctl</controlURL><eventSubURL>/evt</eventSubURL>
   </service></serviceList>
  </device></deviceList>
 </device></deviceList>
</device>
</root>`, f.service)
}

// soapArgs reads the action's arguments: the leaf elements of the body.
func soapArgs(r io.Reader) (map[string]string, error) {
	args := map[string]string{}
	dec := xml.NewDecoder(r)
	var name string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return args, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			name = tok.Name.Local
			text.Reset()
		case xml.CharData:
			text.Write(tok)
		case xml.EndElement:
			if name == tok.Name.Local {
				args[name] = text.String()
			}
			name = ""
		}
	}
}

func (f *fakeIGD) control(w http.ResponseWriter, r *http.Request) {
	action := strings.Trim(r.Header.Get("SOAPACTION"), `"`)
	_, action, _ = strings.Cut(action, "#")
	args, err := soapArgs(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, action+" "+args["NewExternalPort"])
	port64, _ := strconv.ParseUint(args["NewExternalPort"], 10, 16)
	port := uint16(port64)
	switch {
	case action == "GetExternalIPAddress":
		f.reply(w, action, "<NewExternalIPAddress>"+f.externalIP+"</NewExternalIPAddress>")
	case action == "AddPortMapping" || (action == "AddAnyPortMapping" && strings.HasSuffix(f.service, ":2")):
		lease, _ := strconv.ParseUint(args["NewLeaseDuration"], 10, 32)
		if f.onlyPermanent && lease != 0 {
			f.fault(w, 725, "OnlyPermanentLeasesSupported")
			return
		}
		ip, _ := strconv.ParseUint(args["NewInternalPort"], 10, 16)
		e := fakeEntry{client: args["NewInternalClient"], port: uint16(ip), lease: uint32(lease), desc: args["NewPortMappingDescription"], proto: args["NewProtocol"]}
		if action == "AddAnyPortMapping" {
			for f.taken[port] || f.mappings[port].client != "" || port == 0 {
				port++
			}
			f.mappings[port] = e
			f.reply(w, action, fmt.Sprintf("<NewReservedPort>%d</NewReservedPort>", port))
			return
		}
		if old, ok := f.mappings[port]; f.taken[port] || (ok && old.client != e.client) {
			f.fault(w, 718, "ConflictInMappingEntry")
			return
		}
		f.mappings[port] = e
		f.reply(w, action, "")
	case action == "DeletePortMapping":
		if _, ok := f.mappings[port]; !ok {
			f.fault(w, 714, "NoSuchEntryInArray")
			return
		}
		delete(f.mappings, port)
		f.reply(w, action, "")
	default:
		f.fault(w, 401, "Invalid Action")
	}
}

func (f *fakeIGD) reply(w http.ResponseWriter, action, body string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="urn:schemas-upnp-org:service:%s">%s</u:%sResponse></s:Body></s:Envelope>`,
		action, f.service, body, action)
}

func (f *fakeIGD) fault(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
		code, desc)
}

func (f *fakeIGD) entry(port uint16) (fakeEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.mappings[port]
	return e, ok
}
