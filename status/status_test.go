package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peercloud/peercloud/control"
	"github.com/peercloud/peercloud/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Unix(1_700_000_000, 0)

func sampleReport() *Report {
	tr := &pipeline.PeerStats{}
	tr.InBytes.Store(3 << 20)
	tr.InPackets.Store(2100)
	tr.OutBytes.Store(1500)
	tr.OutPackets.Store(3)
	r := &Report{Device: "pc0", Listen: "[::]:3210", Mode: "router", PID: 42, Started: now.Add(-time.Hour),
		Peers: PeersFrom([]control.PeerStatus{
			{Addr: "[::ffff:10.9.0.2]:3210", NodeID: "00ff", Algorithm: "AES128", Extended: true,
				Claims: []string{"10.0.0.2/32"}, Connected: now.Add(-125 * time.Second), LastSeen: now.Add(-3 * time.Second), Traffic: tr,
				KeyTime: now.Add(-5 * time.Second), Rotations: 1},
			{Addr: "10.9.0.1:3210", NodeID: "aa", Algorithm: "CHACHA20"},
			{Addr: "[100::7]:1", Via: "[::ffff:10.9.0.1]:3210", NodeID: "bb", Algorithm: "AES256", Extended: true},
		}),
		Counters: pipeline.CounterValues{NetIn: 5, NetInBytes: 700, DropNoRoute: 2},
	}
	r.Drops = DropMap(r.Counters)
	r.Control.Connected = 3
	return r
}

func TestPeersFrom(t *testing.T) {
	r := sampleReport()
	if len(r.Peers) != 3 || r.Peers[0].Addr != "10.9.0.1:3210" || r.Peers[1].Addr != "10.9.0.2:3210" || r.Peers[2].Addr != "[100::7]:1" {
		t.Fatalf("peers not sorted or not unmapped: %+v", r.Peers)
	}
	if r.Peers[0].Via != "" || r.Peers[2].Via != "10.9.0.1:3210" {
		t.Errorf("via not copied or not unmapped: %q %q", r.Peers[0].Via, r.Peers[2].Via)
	}
	p := r.Peers[1]
	if p.RxBytes != 3<<20 || p.RxPackets != 2100 || p.TxBytes != 1500 || p.TxPackets != 3 || !p.Extended {
		t.Errorf("peer = %+v", p)
	}
	if r.Peers[0].Claims == nil {
		t.Error("nil claims (JSON null)")
	}
}

func TestFormatText(t *testing.T) {
	var b bytes.Buffer
	if err := FormatText(&b, sampleReport(), now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"interface: pc0\n  listening: [::]:3210\n  mode: router\n  pid: 42\n  up: 1 hour\n  peers: 3\n",
		"  transfer: 700 B received, 0 B sent (5/0 datagrams)\n",
		"  drops: no_route 2\n",
		"  handshakes: 3, disconnects: 0 (timeouts 0), invalid: 0\n",
		"\npeer: 10.9.0.2:3210\n  node id: 00ff\n  algorithm: AES128 (peercloud HKDF key schedule)\n  claims: 10.0.0.2/32\n" +
			"  key age: 5 seconds (1 rotations)\n  connected: 2 minutes, 5 seconds ago\n  latest contact: 3 seconds ago\n  transfer: 3.00 MiB received, 1.46 KiB sent (2100/3 packets)\n",
		"peer: 10.9.0.1:3210\n  node id: aa\n  algorithm: CHACHA20 (VpnCloud key schedule)\n  claims: (none)\n",
		"peer: [100::7]:1\n  via: 10.9.0.1:3210 (relayed)\n  node id: bb\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The JSON has "via" for a relayed peer only.
func TestViaJSON(t *testing.T) {
	b, err := json.Marshal(sampleReport().Peers)
	if err != nil {
		t.Fatal(err)
	}
	var peers []map[string]any
	if err := json.Unmarshal(b, &peers); err != nil {
		t.Fatal(err)
	}
	if _, ok := peers[0]["via"]; ok {
		t.Errorf("a direct peer has \"via\": %s", b)
	}
	if peers[2]["via"] != "10.9.0.1:3210" {
		t.Errorf("the relayed peer's \"via\" = %v: %s", peers[2]["via"], b)
	}
}

func TestServerAndQuery(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	path := filepath.Join(dir, "pc0.sock")
	want := sampleReport()
	s, err := Listen(path, os.Getgid(), func(context.Context) (*Report, error) { return want, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, %v", fi.Mode(), err)
	}
	got, err := Query(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if !bytes.Equal(wj, gj) {
		t.Errorf("report over the socket:\n%s\nwant\n%s", gj, wj)
	}
	// A second daemon on the same path is refused.
	if _, err := Listen(path, -1, nil, nil); !errors.Is(err, ErrInUse) {
		t.Errorf("second Listen: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := Query(context.Background(), path); err == nil {
		t.Error("Query after Close succeeded")
	}
	s.Close()
}

func TestServerReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	ln, _ := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(path, -1, func(context.Context) (*Report, error) { return &Report{Device: "x"}, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, err := Query(context.Background(), path); err != nil || r.Device != "x" {
		t.Errorf("Query = %v, %v", r, err)
	}
}

func TestServerErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.sock")
	s, err := Listen(path, -1, func(context.Context) (*Report, error) { return nil, errors.New("node stopped") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Query(context.Background(), path); !errors.Is(err, ErrDaemon) || !strings.Contains(err.Error(), "node stopped") {
		t.Errorf("provider error: %v", err)
	}
	for req, want := range map[string]string{
		"garbage\n":                  "not a JSON request",
		"{\"command\":\"reboot\"}\n": "unknown command",
		strings.Repeat("x", 10000):   "reading the request",
	} {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(req))
		if tc, ok := c.(*net.UnixConn); ok && !strings.HasSuffix(req, "\n") {
			tc.CloseWrite()
		}
		var resp Response
		c.SetDeadline(time.Now().Add(5 * time.Second))
		err = json.NewDecoder(c).Decode(&resp)
		c.Close()
		if err != nil || resp.Status != nil || !strings.Contains(resp.Error, want) {
			t.Errorf("request %.20q: %+v, %v; want error %q", req, resp, err, want)
		}
	}
}

func TestAgeAndSize(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0 seconds", time.Second: "1 second",
		90061 * time.Second: "1 day, 1 hour, 1 minute, 1 second"} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[uint64]string{1023: "1023 B", 1024: "1.00 KiB", 5 << 40: "5.00 TiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNamespaceSuffix(t *testing.T) {
	links := map[string]string{"self": "net:[4026532001]", "1": "net:[4026531840]"}
	read := func(pid string) (string, error) {
		if l, ok := links[pid]; ok {
			return l, nil
		}
		return "", os.ErrPermission
	}
	if got := nsSuffix(read); got != "@net4026532001" {
		t.Errorf("other namespace: %q", got)
	}
	links["1"] = links["self"]
	if got := nsSuffix(read); got != "" {
		t.Errorf("host namespace: %q", got)
	}
	delete(links, "1")
	if got := nsSuffix(read); got != "@net4026532001" {
		t.Errorf("unknown pid 1: %q", got)
	}
	delete(links, "self")
	if got := nsSuffix(read); got != "" {
		t.Errorf("unknown own namespace: %q", got)
	}
	for link, want := range map[string]string{"net:[12]": "12", "net:[]": "", "mnt:[12]": "", "net:[1x]": ""} {
		if got := nsID(link); got != want {
			t.Errorf("nsID(%q) = %q, want %q", link, got, want)
		}
	}
	if p := DefaultPath("pc0"); !strings.HasPrefix(p, DefaultDir+"/pc0") || !strings.HasSuffix(p, ".sock") {
		t.Errorf("DefaultPath = %q", p)
	}
	c := CandidatePaths("pc0")
	if c[len(c)-1] != DefaultDir+"/pc0.sock" || (len(c) == 2 && !strings.Contains(c[0], "@net")) {
		t.Errorf("CandidatePaths = %q", c)
	}
}
