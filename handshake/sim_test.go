package handshake

import (
	"bytes"
	"errors"
	"testing"

	"github.com/peercloud/peercloud/aead"
)

var allAlgs = []AlgoSpeed{{aead.AES128, 600}, {aead.AES256, 500}, {aead.ChaCha20, 400}}

// testIdentity is shared by test peers (PBKDF2 is slow on purpose).
var testIdentity = IdentityFromPassword("test")

type peerOpt func(*Config)

func newTestPeer(t testing.TB, seed byte, payload string, opts ...peerOpt) *Peer {
	t.Helper()
	cfg := &Config{
		Identity:   testIdentity,
		Algorithms: allAlgs,
		Extended:   true,
		Rand:       newDetRand(seed),
	}
	cfg.NodeID[0] = seed
	cfg.NodeID[15] = 0xA5
	for _, o := range opts {
		o(cfg)
	}
	p, err := NewPeer(cfg, []byte(payload))
	if err != nil {
		t.Fatalf("NewPeer: %v", err)
	}
	return p
}

// sim delivers packets between two peers, optionally dropping some.
type sim struct {
	t     testing.TB
	peers [2]*Peer
	queue []simMsg
	sent  [2]int // packets sent per peer
	// drop decides, by sender and the sender's packet number (0-based),
	// whether a packet is lost.
	drop func(from, n int) bool
	// log keeps every init packet seen, for replay tests.
	log []simMsg
	// established counts Established results per peer.
	established [2]int
}

type simMsg struct {
	to  int
	pkt []byte
}

func newSim(t testing.TB, a, b *Peer) *sim { return &sim{t: t, peers: [2]*Peer{a, b}} }

func (s *sim) send(from int, pkts ...[]byte) {
	for _, p := range pkts {
		n := s.sent[from]
		s.sent[from]++
		if s.drop != nil && s.drop(from, n) {
			continue
		}
		s.queue = append(s.queue, simMsg{to: 1 - from, pkt: p})
	}
}

// run delivers until the queue is empty.
func (s *sim) run() {
	for steps := 0; len(s.queue) > 0; steps++ {
		if steps > 1000 {
			s.t.Fatal("message storm")
		}
		m := s.queue[0]
		s.queue = s.queue[1:]
		s.send(m.to, s.deliver(m.to, m.pkt)...)
	}
}

func (s *sim) deliver(to int, pkt []byte) [][]byte {
	p := s.peers[to]
	if pkt[0] == InitByte {
		s.log = append(s.log, simMsg{to: to, pkt: pkt})
		res, err := p.HandleInit(pkt)
		if err != nil {
			if IsFatal(err) {
				s.t.Fatalf("peer %d: fatal: %v", to, err)
			}
			return nil
		}
		if res.Established {
			s.established[to]++
		}
		return res.Replies
	}
	pt, err := p.Session().Open(append([]byte(nil), pkt...))
	if err != nil {
		s.t.Fatalf("peer %d: open: %v", to, err)
	}
	if pt[0] != TypeRotation {
		s.t.Fatalf("peer %d: unexpected type %#x", to, pt[0])
	}
	if err := p.HandleRotation(pt[1:]); err != nil {
		s.t.Fatalf("peer %d: rotation: %v", to, err)
	}
	return nil
}

// tick ticks both peers (A first) and delivers what they send.
func (s *sim) tick() {
	for i, p := range s.peers {
		out, err := p.Tick()
		if err != nil {
			s.t.Fatalf("peer %d: tick: %v", i, err)
		}
		s.send(i, out...)
		s.run()
	}
}

// handshake starts A and runs until both are established (ticks allowed).
func (s *sim) handshake(maxTicks int) {
	ping, err := s.peers[0].Start()
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(0, ping)
	s.run()
	for i := 0; i < maxTicks && !(s.peers[0].Established() && s.peers[1].Established()); i++ {
		s.tick()
	}
	if !s.peers[0].Established() || !s.peers[1].Established() {
		s.t.Fatalf("not established: A %v B %v", s.peers[0].Established(), s.peers[1].Established())
	}
}

// checkTraffic asserts that each side's sealed packets open on the other.
func checkTraffic(t testing.TB, a, b *Peer) {
	t.Helper()
	for i, pair := range [][2]*Peer{{a, b}, {b, a}} {
		msg := []byte{0, 'h', 'e', 'l', 'l', 'o', byte(i)}
		pkt, err := sealPacket(pair[0].Session(), msg)
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		pt, err := pair[1].Session().Open(pkt)
		if err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("direction %d: open: %v (%x)", i, err, pt)
		}
	}
}

func checkEstablished(t testing.TB, a, b *Peer, wantAlg aead.Algorithm, wantExt bool) {
	t.Helper()
	if a.Algorithm() != wantAlg || b.Algorithm() != wantAlg {
		t.Fatalf("algorithms %v %v, want %v", a.Algorithm(), b.Algorithm(), wantAlg)
	}
	if a.Extended() != wantExt || b.Extended() != wantExt {
		t.Fatalf("extended %v %v, want %v", a.Extended(), b.Extended(), wantExt)
	}
	if a.Initiator() == b.Initiator() {
		t.Fatal("both peers claim the same role")
	}
	if a.PeerKey() != b.cfg.Identity.Public() || b.PeerKey() != a.cfg.Identity.Public() {
		t.Fatal("peer keys wrong")
	}
	if string(a.PeerPayload()) != string(b.init0Payload()) || string(b.PeerPayload()) != string(a.init0Payload()) {
		t.Fatalf("payloads %q %q", a.PeerPayload(), b.PeerPayload())
	}
	checkTraffic(t, a, b)
}

// init0Payload is the payload a peer was created with (test helper).
func (p *Peer) init0Payload() []byte { return p.payload }

func TestHandshakeMatrix(t *testing.T) {
	only := func(a aead.Algorithm) peerOpt {
		return func(c *Config) { c.Algorithms = []AlgoSpeed{{a, 100}} }
	}
	plain := func(c *Config) { c.AllowPlain = true }
	vpncloud := func(c *Config) { c.Extended = false }
	cases := []struct {
		name string
		a, b []peerOpt
		alg  aead.Algorithm
		ext  bool
	}{
		{"default", nil, nil, aead.AES128, true},
		{"aes128", []peerOpt{only(aead.AES128)}, []peerOpt{only(aead.AES128)}, aead.AES128, true},
		{"aes256", []peerOpt{only(aead.AES256)}, []peerOpt{only(aead.AES256)}, aead.AES256, true},
		{"chacha20", []peerOpt{only(aead.ChaCha20)}, nil, aead.ChaCha20, true},
		{"plain", []peerOpt{plain}, []peerOpt{plain}, aead.Plain, false},
		{"plain-one-side", []peerOpt{plain}, nil, aead.AES128, true},
		{"aes128-vpncloud-both", []peerOpt{vpncloud}, []peerOpt{vpncloud}, aead.AES128, false},
		{"chacha-vpncloud-both", []peerOpt{vpncloud, only(aead.ChaCha20)}, []peerOpt{vpncloud}, aead.ChaCha20, false},
		{"aes256-initiator-vpncloud", []peerOpt{vpncloud, only(aead.AES256)}, nil, aead.AES256, false},
		{"aes128-responder-vpncloud", nil, []peerOpt{vpncloud}, aead.AES128, false},
		{"plain-vpncloud", []peerOpt{plain, vpncloud}, []peerOpt{plain}, aead.Plain, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newTestPeer(t, 1, "payload-A", c.a...)
			b := newTestPeer(t, 2, "payload-B", c.b...)
			s := newSim(t, a, b)
			s.handshake(0)
			checkEstablished(t, a, b, c.alg, c.ext)
			if !a.Initiator() || s.established != [2]int{1, 1} {
				t.Fatalf("initiator %v, established %v", a.Initiator(), s.established)
			}
			// The responder's rotation message went along (not in plain).
			wantB := 2
			if c.alg == aead.Plain {
				wantB = 1
			}
			if s.sent != [2]int{2, wantB} {
				t.Fatalf("sent %v, want [2 %d]", s.sent, wantB)
			}
		})
	}
}

func TestHandshakeSurvivesLoss(t *testing.T) {
	cases := []struct {
		name     string
		from, n  int
		vpncloud bool
	}{
		{"ping", 0, 0, false},
		{"pong", 1, 0, false},
		{"peng", 0, 1, false},
		{"rotation", 1, 1, false},
		{"ping-vpncloud", 0, 0, true},
		{"peng-vpncloud", 0, 1, true},
		{"rotation-vpncloud", 1, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt := func(cfg *Config) { cfg.Extended = !c.vpncloud }
			a := newTestPeer(t, 3, "A", opt)
			b := newTestPeer(t, 4, "B", opt)
			s := newSim(t, a, b)
			s.drop = func(from, n int) bool { return from == c.from && n == c.n }
			s.handshake(5)
			checkEstablished(t, a, b, aead.AES128, !c.vpncloud)
			if s.established != [2]int{1, 1} {
				t.Fatalf("established %v", s.established)
			}
			// Rotation recovers too: within a few turns both sides install keys.
			var installs [2]int
			a.installHook = func(uint64, bool) { installs[0]++ }
			b.installHook = func(uint64, bool) { installs[1]++ }
			for i := 0; i < 5*RotateInterval; i++ {
				s.tick()
				checkTraffic(t, a, b)
			}
			if installs[0] < 2 || installs[1] < 2 {
				t.Fatalf("installs %v after loss", installs)
			}
		})
	}
}

type installEvent struct {
	id   uint64
	send bool
}

// TestRotationKeylogOrder drives rotation with Ticks and checks that the
// keys are installed in the order VpnCloud's keylogs show (A: master,
// rotate-cycle 2 false, rotate-recv-msg 3 true; B: rotate-recv-msg 2 true,
// rotate-cycle 3 false) and that traffic opens after every install.
func TestRotationKeylogOrder(t *testing.T) {
	for _, ext := range []bool{false, true} {
		opt := func(c *Config) { c.Extended = ext }
		a := newTestPeer(t, 5, "A", opt)
		b := newTestPeer(t, 6, "B", opt)
		s := newSim(t, a, b)
		s.handshake(0)
		var evA, evB []installEvent
		a.installHook = func(id uint64, send bool) { evA = append(evA, installEvent{id, send}) }
		b.installHook = func(id uint64, send bool) { evB = append(evB, installEvent{id, send}) }
		for i := 0; i < 4*RotateInterval+1; i++ {
			s.tick()
			checkTraffic(t, a, b)
		}
		wantA := []installEvent{{2, false}, {3, true}, {4, false}, {5, true}}
		wantB := []installEvent{{2, true}, {3, false}, {4, true}, {5, false}}
		for _, c := range []struct {
			got, want []installEvent
			name      string
		}{{evA, wantA, "A"}, {evB, wantB, "B"}} {
			if len(c.got) < len(c.want) {
				t.Fatalf("ext=%v %s: events %v, want prefix %v", ext, c.name, c.got, c.want)
			}
			for i := range c.want {
				if c.got[i] != c.want[i] {
					t.Fatalf("ext=%v %s: events %v, want prefix %v", ext, c.name, c.got, c.want)
				}
			}
		}
		// Every slot is in use by now and traffic still flows both ways.
		checkTraffic(t, a, b)
	}
}

func TestCrossedPingsResolveToOneSession(t *testing.T) {
	for seed := byte(10); seed < 20; seed++ {
		a := newTestPeer(t, seed, "A")
		b := newTestPeer(t, seed+100, "B")
		s := newSim(t, a, b)
		pa, err := a.Start()
		if err != nil {
			t.Fatal(err)
		}
		pb, err := b.Start()
		if err != nil {
			t.Fatal(err)
		}
		s.send(0, pa)
		s.send(1, pb)
		s.run()
		for i := 0; i < 3 && !(a.Established() && b.Established()); i++ {
			s.tick()
		}
		if s.established != [2]int{1, 1} {
			t.Fatalf("seed %d: established %v", seed, s.established)
		}
		checkEstablished(t, a, b, aead.AES128, true)
		// The side with the greater salted node-id hash is the initiator.
		ha, hb := a.NodeHash(), b.NodeHash()
		if a.Initiator() != (bytes.Compare(ha[:], hb[:]) > 0) {
			t.Fatalf("seed %d: wrong initiator", seed)
		}
	}
}

func TestReplayedInitDoesNotCreateSecondSession(t *testing.T) {
	a := newTestPeer(t, 21, "A")
	b := newTestPeer(t, 22, "B")
	s := newSim(t, a, b)
	s.handshake(0)
	sa, sb := a.Session(), b.Session()
	for _, m := range s.log {
		for _, i := range []int{m.to} {
			p := s.peers[i]
			res, err := p.HandleInit(m.pkt)
			if res.Established || IsFatal(err) {
				t.Fatalf("peer %d: replay gave %+v, %v", i, res, err)
			}
			for _, r := range res.Replies {
				if r[0] != InitByte {
					t.Fatalf("peer %d: replay produced a non-init reply", i)
				}
			}
		}
	}
	if a.Session() != sa || b.Session() != sb {
		t.Fatal("session replaced by a replayed message")
	}
	// The responder dropped its init state; the initiator repeats its peng.
	if b.HasInit() {
		t.Fatal("responder kept init state")
	}
	if _, err := b.HandleInit(s.log[0].pkt); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("responder after handshake: %v", err)
	}
	// The initiator keeps it for closeTicks+1 ticks, then drops it.
	for i := 0; i <= closeTicks; i++ {
		if !a.HasInit() {
			t.Fatalf("initiator dropped init after %d ticks", i)
		}
		if out, err := a.Tick(); err != nil || len(out) != 0 {
			t.Fatalf("tick %d: %v %d", i, err, len(out))
		}
	}
	if a.HasInit() {
		t.Fatal("initiator kept init state")
	}
	checkTraffic(t, a, b)
}

func TestConnectedToSelf(t *testing.T) {
	a := newTestPeer(t, 30, "A")
	ping, err := a.Start()
	if err != nil {
		t.Fatal(err)
	}
	// Same node id, different salt: a second connection to ourselves.
	same := newTestPeer(t, 30, "A2", func(c *Config) { c.Rand = newDetRand(99) })
	if same.NodeHash() == a.NodeHash() {
		t.Fatal("test needs different salts")
	}
	_, err = same.HandleInit(ping)
	if !errors.Is(err, ErrConnectedToSelf) || !IsFatal(err) || !same.Failed() {
		t.Fatalf("err = %v, failed %v", err, same.Failed())
	}
	if _, err := same.Tick(); !errors.Is(err, ErrConnectedToSelf) {
		t.Fatalf("failed peer ticks: %v", err)
	}
	// Our own ping reflected back.
	if _, err := a.HandleInit(ping); !errors.Is(err, ErrConnectedToSelf) {
		t.Fatalf("reflected ping: %v", err)
	}
}

func TestUntrustedKeyRefused(t *testing.T) {
	a := newTestPeer(t, 31, "A", func(c *Config) { c.Identity = IdentityFromPassword("intruder") })
	b := newTestPeer(t, 32, "B")
	ping, err := a.Start()
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.HandleInit(ping)
	if !errors.Is(err, ErrUntrustedKey) || IsFatal(err) || len(res.Replies) != 0 || b.Failed() {
		t.Fatalf("untrusted ping: %+v %v", res, err)
	}
	// Explicit trust admits it.
	c := newTestPeer(t, 33, "C", func(c *Config) {
		c.Trusted = []PublicKey{IdentityFromPassword("intruder").Public(), c.Identity.Public()}
	})
	if res, err := c.HandleInit(ping); err != nil || len(res.Replies) != 1 {
		t.Fatalf("trusted ping: %+v %v", res, err)
	}
}

func TestTamperedMessagesRefused(t *testing.T) {
	a := newTestPeer(t, 40, "A")
	b := newTestPeer(t, 41, "B")
	ping, _ := a.Start()
	res, err := newTestPeer(t, 41, "B").HandleInit(ping)
	if err != nil {
		t.Fatal(err)
	}
	pong := res.Replies[0]
	for _, c := range []struct {
		name string
		pkt  []byte
		to   *Peer
	}{{"ping", ping, b}, {"pong", pong, a}} {
		for i := range c.pkt {
			for _, mask := range []byte{0x01, 0x80} {
				bad := append([]byte(nil), c.pkt...)
				bad[i] ^= mask
				res, err := c.to.HandleInit(bad)
				if err == nil || res.Established || len(res.Replies) != 0 {
					t.Fatalf("%s: flip of byte %d accepted: %+v", c.name, i, res)
				}
				if c.to.Failed() || c.to.Established() {
					t.Fatalf("%s: flip of byte %d changed state", c.name, i)
				}
			}
		}
		// Truncations are refused too.
		for n := 0; n < len(c.pkt); n++ {
			if _, err := c.to.HandleInit(c.pkt[:n]); err == nil {
				t.Fatalf("%s: truncation to %d accepted", c.name, n)
			}
		}
	}
}

func TestHandshakeTimeout(t *testing.T) {
	a := newTestPeer(t, 50, "A")
	ping, _ := a.Start()
	for i := 0; i < MaxFailedRetries; i++ {
		out, err := a.Tick()
		if err != nil || len(out) != 1 || !bytes.Equal(out[0], ping) {
			t.Fatalf("tick %d: %v, %d packets", i, err, len(out))
		}
	}
	if _, err := a.Tick(); !errors.Is(err, ErrTimeout) || !IsFatal(err) || !a.Failed() {
		t.Fatalf("after %d retries: %v", MaxFailedRetries, err)
	}
	// A valid message resets the retry counter.
	b := newTestPeer(t, 51, "B")
	c := newTestPeer(t, 52, "C")
	ping, _ = b.Start()
	for i := 0; i < MaxFailedRetries-1; i++ {
		b.Tick()
	}
	res, _ := c.HandleInit(ping)
	if _, err := b.HandleInit(res.Replies[0]); err != nil || !b.Established() {
		t.Fatalf("pong: %v", err)
	}
	for i := 0; i < 3*MaxFailedRetries; i++ {
		if _, err := b.Tick(); err != nil {
			t.Fatalf("tick after success: %v", err)
		}
	}
}

func TestFirstMessageMustBePing(t *testing.T) {
	a := newTestPeer(t, 60, "A")
	b := newTestPeer(t, 61, "B")
	ping, _ := a.Start()
	res, _ := b.HandleInit(ping)
	fresh := newTestPeer(t, 62, "C")
	if _, err := fresh.HandleInit(res.Replies[0]); !errors.Is(err, ErrInvalidState) || !IsFatal(err) {
		t.Fatalf("pong as first message: %v", err)
	}
	if _, err := a.Start(); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("second Start: %v", err)
	}
}

func TestNoCommonAlgorithm(t *testing.T) {
	a := newTestPeer(t, 70, "A", func(c *Config) { c.Algorithms = []AlgoSpeed{{aead.AES128, 1}} })
	b := newTestPeer(t, 71, "B", func(c *Config) { c.Algorithms = []AlgoSpeed{{aead.ChaCha20, 1}} })
	ping, _ := a.Start()
	if _, err := b.HandleInit(ping); !errors.Is(err, ErrNoCommonAlgorithm) || !b.Failed() {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	id := IdentityFromPassword("x")
	for _, c := range []Config{
		{},
		{Identity: id},
		{Identity: id, Algorithms: []AlgoSpeed{{aead.Plain, 1}}},
		{Identity: id, Algorithms: []AlgoSpeed{{aead.Algorithm(9), 1}}},
	} {
		if _, err := NewPeer(&c, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("config %+v: err = %v", c, err)
		}
	}
	if _, err := NewPeer(&Config{Identity: id, AllowPlain: true}, nil); err != nil {
		t.Errorf("plain-only config: %v", err)
	}
	if _, err := NewPeer(&Config{Identity: id, AllowPlain: true, Rand: bytes.NewReader(nil)}, nil); !errors.Is(err, ErrRandom) {
		t.Errorf("empty rand: %v", err)
	}
}

func BenchmarkHandshake(b *testing.B) {
	for _, ext := range []bool{false, true} {
		name := "vpncloud"
		if ext {
			name = "extended"
		}
		b.Run(name, func(b *testing.B) {
			opt := func(c *Config) { c.Extended = ext }
			for i := 0; i < b.N; i++ {
				x, y := newTestPeer(b, 1, "A", opt), newTestPeer(b, 2, "B", opt)
				newSim(b, x, y).handshake(0)
			}
		})
	}
}
