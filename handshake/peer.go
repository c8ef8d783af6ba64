package handshake

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/peercloud/peercloud/aead"
)

// TypeRotation is the message type byte of a key rotation message.
const TypeRotation = 0x10

// RotateInterval is the number of Ticks between rotation turns.
const RotateInterval = 120

// Config configures the handshakes of one node. It is read, never
// modified, by every Peer made from it.
type Config struct {
	// Identity signs our init messages. Required.
	Identity *Identity
	// Trusted are the keys whose messages are accepted; empty means our
	// own public key only (nodes sharing a password trust each other).
	Trusted []PublicKey
	// Algorithms are the suites we offer with their speeds (see
	// MeasureAlgorithms). Empty is allowed only with AllowPlain.
	Algorithms []AlgoSpeed
	// AllowPlain offers unencrypted operation (chosen only if both allow it).
	AllowPlain bool
	// NodeID is this run's random node id.
	NodeID [NodeIDLen]byte
	// Extended announces peercloud's extended key schedule (extension.go).
	Extended bool
	// Relay announces that this node relays between its peers
	// (ExtFlagRelay; only with Extended).
	Relay bool
	// KeyLog, when set, receives one line per key installed, in the
	// keylog format of the VpnCloud build the interop captures were made
	// with ("EVENT ID USE_FOR_SENDING KEY_HEX"; see keylog.go). Anyone who
	// reads it can decrypt the traffic: for debugging only. It is written
	// from the goroutine that drives the Peers (the control goroutine).
	KeyLog io.Writer
	// Rand supplies salts and ephemeral keys; nil means crypto/rand.
	Rand io.Reader
	// Logger receives debug logs; nil means none.
	Logger *zap.Logger
}

// normalized validates c and returns a copy with defaults filled in.
func (c *Config) normalized() (*Config, error) {
	if c.Identity == nil {
		return nil, fmt.Errorf("%w: no identity", ErrConfig)
	}
	if len(c.Algorithms) == 0 && !c.AllowPlain {
		return nil, fmt.Errorf("%w: no algorithm allowed", ErrConfig)
	}
	for _, a := range c.Algorithms {
		if a.Alg == aead.Plain || a.Alg.KeyLen() == 0 {
			return nil, fmt.Errorf("%w: algorithm %v not allowed in the list", ErrConfig, a.Alg)
		}
	}
	n := *c
	if len(n.Trusted) == 0 {
		n.Trusted = []PublicKey{c.Identity.Public()}
	} else {
		n.Trusted = append([]PublicKey(nil), c.Trusted...)
	}
	n.Algorithms = append([]AlgoSpeed(nil), c.Algorithms...)
	if n.Rand == nil {
		n.Rand = rand.Reader
	}
	if n.Logger == nil {
		n.Logger = zap.NewNop()
	}
	return &n, nil
}

// Result is what a handshake packet produced.
type Result struct {
	// Replies are packets to send back to the peer, in order: init
	// messages (starting with InitByte) and, on the responder's success,
	// the first rotation message already sealed with the session.
	Replies [][]byte
	// Established reports that this packet completed the handshake; the
	// peer's payload and the session are available from now on.
	Established bool
}

// Peer is the crypto state towards one peer (VpnCloud's PeerCrypto): the
// init handshake, then the established session and its key rotation.
//
// A Peer is not safe for concurrent use: the control goroutine owns it.
// The *aead.Session it hands out is safe for concurrent use by the data
// plane; the Peer installs rotated keys into it.
type Peer struct {
	cfg  *Config
	log  *zap.Logger
	init *initState
	err  error // sticky fatal error

	nodeHash NodeHash
	payload  []byte

	established bool
	initiator   bool
	session     *aead.Session
	alg         aead.Algorithm
	extended    bool
	peerRelays  bool
	th          [32]byte
	peerKey     PublicKey
	peerPayload []byte

	rot           *rotationState
	rotateCounter int
	rotations     uint64 // rotated keys installed

	// installHook, when set (tests), sees every rotated key installed.
	installHook func(id uint64, useForSending bool)
}

// NewPeer prepares a handshake carrying payload (the node-info bytes, opaque
// here). Call Start to initiate, or HandleInit with a received ping.
func NewPeer(cfg *Config, payload []byte) (*Peer, error) {
	c, err := cfg.normalized()
	if err != nil {
		return nil, fmt.Errorf("handshake.NewPeer: %w", err)
	}
	init, err := newInitState(c, payload)
	if err != nil {
		return nil, fmt.Errorf("handshake.NewPeer: %w", err)
	}
	return &Peer{cfg: c, log: c.Logger, init: init, nodeHash: init.nodeHash, payload: init.payload}, nil
}

// Start returns the ping packet (InitByte + message) that initiates the
// handshake. It fails once a handshake is under way.
func (p *Peer) Start() ([]byte, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.init == nil {
		return nil, fmt.Errorf("handshake.Start: %w: initialization finished", ErrInvalidState)
	}
	msg, err := p.init.start()
	if err != nil {
		return nil, fmt.Errorf("handshake.Start: %w", err)
	}
	p.log.Debug("handshake: sending ping")
	return msg, nil
}

// HandleInit processes a received handshake packet (starting with
// InitByte). Errors wrapping ErrFatal end the handshake (Failed reports
// true); other errors mean the packet was ignored.
func (p *Peer) HandleInit(pkt []byte) (Result, error) {
	if p.err != nil {
		return Result{}, p.err
	}
	if p.init == nil {
		return Result{}, fmt.Errorf("handshake.HandleInit: %w: initialization finished", ErrInvalidState)
	}
	reply, done, err := p.init.handle(pkt)
	if err != nil {
		if IsFatal(err) {
			p.err = fmt.Errorf("handshake.HandleInit: %w", err)
			p.log.Debug("handshake failed", zap.Error(err))
			return Result{}, p.err
		}
		return Result{}, fmt.Errorf("handshake.HandleInit: %w", err)
	}
	var res Result
	if reply != nil {
		res.Replies = append(res.Replies, reply)
	}
	if !done {
		return res, nil
	}
	in := p.init
	p.established, p.initiator = true, in.nextStage == stageWaitingToClose
	p.session, p.alg, p.extended, p.th = in.session, in.alg, in.extended, in.th
	p.peerRelays = in.peerRelays
	p.peerKey, p.peerPayload = in.peerKey, in.peerPayload
	if in.nextStage == stageClosing {
		p.init = nil
	}
	res.Established = true
	p.log.Debug("handshake established", zap.Bool("initiator", p.initiator),
		zap.Stringer("algorithm", p.alg), zap.Bool("extended", p.extended))
	if p.alg == aead.Plain {
		return res, nil
	}
	rot, msg, err := newRotationState(!p.initiator, p.cfg.Rand)
	if err != nil {
		return Result{}, fmt.Errorf("handshake.HandleInit: %w", err)
	}
	p.rot = rot
	if msg != nil {
		pkt, err := p.sealRotation(msg)
		if err != nil {
			return Result{}, fmt.Errorf("handshake.HandleInit: %w", err)
		}
		res.Replies = append(res.Replies, pkt)
	}
	return res, nil
}

// IsFatal reports whether err ends the handshake.
func IsFatal(err error) bool { return errors.Is(err, ErrFatal) }

func (p *Peer) sealRotation(m *RotationMessage) ([]byte, error) {
	body := m.Append([]byte{TypeRotation})
	return sealPacket(p.session, body)
}

// HandleRotation processes the body of a decrypted rotation message (after
// its type byte). A key it completes is installed into the session.
func (p *Peer) HandleRotation(body []byte) error {
	if !p.established {
		return fmt.Errorf("handshake.HandleRotation: %w: not established", ErrInvalidState)
	}
	if p.rot == nil { // plain: VpnCloud ignores rotation messages
		return nil
	}
	m, err := ParseRotation(body)
	if err != nil {
		return err
	}
	rk, err := p.rot.handle(&m)
	if err != nil {
		return fmt.Errorf("handshake.HandleRotation: %w", err)
	}
	if rk != nil {
		return p.install(rk, "rotate-recv-msg")
	}
	return nil
}

func (p *Peer) install(rk *rotatedKey, event string) error {
	n := p.alg.KeyLen()
	send, recv := rk.secret[:n], rk.secret[:n]
	if p.extended {
		var err error
		if send, recv, err = directionalKeys(rk.secret, &p.th, p.initiator, rk.id, n); err != nil {
			return err
		}
	}
	p.log.Debug("handshake: rotated key", zap.Uint64("id", rk.id), zap.Bool("send", rk.useForSending))
	if err := p.session.Install(int(rk.id%4), send, recv, rk.useForSending); err != nil {
		return fmt.Errorf("handshake: install rotated key %d: %w", rk.id, err)
	}
	logKeys(p.cfg.KeyLog, event, rk.id, rk.useForSending, p.extended, send, recv)
	p.rotations++
	if p.installHook != nil {
		p.installHook(rk.id, rk.useForSending)
	}
	return nil
}

// Rotations is the number of rotated keys installed so far.
func (p *Peer) Rotations() uint64 { return p.rotations }

// Tick advances time by one second (VpnCloud's every_second). It returns
// packets to send: a repeated init message, or a rotation message sealed
// with the session. A fatal error (ErrTimeout) ends the handshake.
func (p *Peer) Tick() ([][]byte, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.init != nil {
		out, err := p.init.tick()
		if err != nil {
			p.err = fmt.Errorf("handshake.Tick: %w", err)
			return nil, p.err
		}
		if p.init.nextStage == stageClosing {
			p.init = nil
		}
		if out != nil {
			return [][]byte{out}, nil
		}
	}
	if p.rot == nil {
		return nil, nil
	}
	p.rotateCounter++
	if p.rotateCounter < RotateInterval {
		return nil, nil
	}
	p.rotateCounter = 0
	msg, rk, err := p.rot.cycle()
	if err != nil {
		return nil, fmt.Errorf("handshake.Tick: %w", err)
	}
	if rk != nil {
		if err := p.install(rk, "rotate-cycle"); err != nil {
			return nil, fmt.Errorf("handshake.Tick: %w", err)
		}
	}
	if msg == nil {
		return nil, nil
	}
	pkt, err := p.sealRotation(msg)
	if err != nil {
		return nil, fmt.Errorf("handshake.Tick: %w", err)
	}
	return [][]byte{pkt}, nil
}

// Session is the established session (nil before). Safe to share with the
// data plane.
func (p *Peer) Session() *aead.Session { return p.session }

// Algorithm is the negotiated algorithm (valid once established).
func (p *Peer) Algorithm() aead.Algorithm { return p.alg }

// PeerKey is the peer's public key (valid once established).
func (p *Peer) PeerKey() PublicKey { return p.peerKey }

// PeerPayload is the payload the peer sent (valid once established).
func (p *Peer) PeerPayload() []byte { return p.peerPayload }

// Established reports whether the handshake completed.
func (p *Peer) Established() bool { return p.established }

// Failed reports whether the handshake failed fatally; Err says why.
func (p *Peer) Failed() bool { return p.err != nil }

// Err is the fatal error that ended the handshake, or nil.
func (p *Peer) Err() error { return p.err }

// Initiator reports whether we sent the ping of the established handshake.
func (p *Peer) Initiator() bool { return p.initiator }

// Extended reports whether the extended key schedule is in use.
func (p *Peer) Extended() bool { return p.extended }

// PeerRelays reports whether the established peer announced that it relays
// (ExtFlagRelay); always false unless this node is Extended too.
func (p *Peer) PeerRelays() bool { return p.peerRelays }

// HasInit reports whether handshake state is still kept (VpnCloud's
// has_init): while true, init packets for this peer belong to HandleInit.
func (p *Peer) HasInit() bool { return p.init != nil }

// NodeHash is our salted node-id hash in this handshake.
func (p *Peer) NodeHash() NodeHash { return p.nodeHash }
