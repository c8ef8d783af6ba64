package handshake

import (
	"bytes"
	"crypto/ecdh"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/peercloud/peercloud/aead"
)

// MaxFailedRetries is how many times an unanswered init message is
// repeated (once per Tick) before the handshake gives up, as VpnCloud.
const MaxFailedRetries = 120

// closeTicks is how long the initiator keeps its state after sending the
// peng, to repeat it when the pong is repeated (VpnCloud's close_time).
const closeTicks = 60

// initState is VpnCloud's InitState: one handshake with one peer. Not safe
// for concurrent use.
type initState struct {
	cfg      *Config
	ownAlgs  []byte // encoded algorithm entries we send
	nodeHash NodeHash
	payload  []byte

	nextStage     Stage
	ecdhPriv      *ecdh.PrivateKey
	lastMessage   []byte
	failedRetries int
	closeTime     int

	// Results, valid once the handshake succeeded.
	peerKey     PublicKey
	havePeerKey bool
	peerRelays  bool // the peer's extension announced relaying
	session     *aead.Session
	alg         aead.Algorithm
	extended    bool
	th          [32]byte
	peerPayload []byte
}

// saltedNodeHash builds a salted node-id hash from 4 salt bytes.
func saltedNodeHash(salt []byte, nodeID *[NodeIDLen]byte) NodeHash {
	var h NodeHash
	copy(h[:4], salt)
	d := sha256.New()
	d.Write(salt[:4])
	d.Write(nodeID[:])
	var sum [sha256.Size]byte
	d.Sum(sum[:0])
	copy(h[4:], sum[:16])
	return h
}

// isOwnNodeHash checks whether h was made from nodeID (done correctly,
// unlike VpnCloud's check_salted_node_id_hash which compares 20 with 32
// bytes and so never matches).
func isOwnNodeHash(h *NodeHash, nodeID *[NodeIDLen]byte) bool {
	return saltedNodeHash(h[:4], nodeID) == *h
}

func newInitState(cfg *Config, payload []byte) (*initState, error) {
	var salt [4]byte
	if _, err := io.ReadFull(cfg.Rand, salt[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	return &initState{
		cfg:       cfg,
		ownAlgs:   encodeAlgorithms(nil, cfg.Algorithms, cfg.AllowPlain),
		nodeHash:  saltedNodeHash(salt[:], &cfg.NodeID),
		payload:   clone(payload),
		nextStage: StagePing,
		closeTime: closeTicks,
	}, nil
}

func (s *initState) ext() *Extension {
	if !s.cfg.Extended {
		return nil
	}
	e := &Extension{Version: extensionVersion, Flags: ExtFlagKeySchedule}
	if s.cfg.Relay {
		e.Flags |= ExtFlagRelay
	}
	return e
}

// send encodes, remembers and returns a message.
func (s *initState) send(o *outMessage) ([]byte, error) {
	var salt [4]byte
	if _, err := io.ReadFull(s.cfg.Rand, salt[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	o.nodeHash = s.nodeHash
	msg := o.encode(s.cfg.Identity, salt)
	s.lastMessage = msg
	return clone(msg), nil
}

// start sends the ping.
func (s *initState) start() ([]byte, error) {
	if s.nextStage != StagePing {
		return nil, fmt.Errorf("%w: initialization already ongoing", ErrInvalidState)
	}
	k, err := newX25519(s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	msg, err := s.send(&outMessage{stage: StagePing, ecdh: k.PublicKey().Bytes(), algs: s.ownAlgs, ext: s.ext()})
	if err != nil {
		return nil, err
	}
	s.ecdhPriv = k
	s.nextStage = StagePong
	return msg, nil
}

func fatal(err error) error { return fmt.Errorf("%w: %w", ErrFatal, err) }

// handle processes one handshake packet. It returns a reply to send (nil
// for none) and done when the handshake completed with this message.
// Errors wrapping ErrFatal end the handshake; others leave it unchanged.
func (s *initState) handle(pkt []byte) (reply []byte, done bool, err error) {
	m, signer, err := ParseInit(pkt, s.cfg.Trusted)
	if err != nil {
		return nil, false, err
	}
	if m.NodeHash == s.nodeHash || isOwnNodeHash(&m.NodeHash, &s.cfg.NodeID) {
		return nil, false, fatal(ErrConnectedToSelf)
	}
	if m.Stage != s.nextStage {
		switch {
		case s.nextStage == StagePong && m.Stage == StagePing:
			// Crossed pings: the side with the greater hash stays initiator.
			if bytes.Compare(m.NodeHash[:], s.nodeHash[:]) <= 0 {
				return nil, false, nil
			}
			s.nextStage, s.lastMessage, s.ecdhPriv = StagePing, nil, nil
		case s.nextStage == stageClosing:
			return nil, false, nil
		case s.lastMessage != nil:
			return clone(s.lastMessage), false, nil
		default:
			return nil, false, fatal(fmt.Errorf("%w: stage %d as first message", ErrInvalidState, m.Stage))
		}
	}
	if s.havePeerKey && signer != s.peerKey {
		return nil, false, fmt.Errorf("%w: signer changed during handshake", ErrUntrustedKey)
	}
	s.failedRetries = 0
	switch m.Stage {
	case StagePing:
		return s.handlePing(m, signer)
	case StagePong:
		return s.handlePong(m, signer)
	default:
		return s.handlePeng(m)
	}
}

// setupSession selects the algorithm and builds the session for the given
// role. own is our ephemeral key, m the peer's ping or pong.
func (s *initState) setupSession(m *InitMessage, signer PublicKey, own *ecdh.PrivateKey, initiator bool) (*aead.Session, aead.Algorithm, bool, [32]byte, error) {
	var th [32]byte
	alg, ok := SelectAlgorithm(s.cfg.Algorithms, s.cfg.AllowPlain, m.Algorithms, m.AllowPlain)
	if !ok {
		return nil, 0, false, th, fatal(ErrNoCommonAlgorithm)
	}
	half := bytes.Compare(s.nodeHash[:], m.NodeHash[:]) > 0
	if alg == aead.Plain {
		sess, err := aead.NewSession(aead.Plain, half, nil, nil)
		return sess, alg, false, th, err
	}
	secret, err := x25519(own, m.ECDHKey)
	if err != nil {
		return nil, 0, false, th, err
	}
	ext := s.cfg.Extended && m.Ext.keySchedule()
	send, recv := secret[:alg.KeyLen()], secret[:alg.KeyLen()]
	if ext {
		mine := handshakeSide{signer: s.cfg.Identity.Public(), nodeHash: s.nodeHash, ecdh: own.PublicKey().Bytes(), algs: s.ownAlgs}
		peer := handshakeSide{signer: signer, nodeHash: m.NodeHash, ecdh: m.ECDHKey, algs: m.rawAlgorithms}
		if initiator {
			th = transcriptHash(&mine, &peer)
		} else {
			th = transcriptHash(&peer, &mine)
		}
		if send, recv, err = directionalKeys(secret, &th, initiator, 0, alg.KeyLen()); err != nil {
			return nil, 0, false, th, err
		}
	}
	sess, err := aead.NewSession(alg, half, send, recv)
	if err != nil {
		return nil, 0, false, th, fmt.Errorf("handshake: new session: %w", err)
	}
	logKeys(s.cfg.KeyLog, "master", 0, true, ext, send, recv)
	return sess, alg, ext, th, nil
}

// sealPayload seals our payload with the session (raw when plain).
func sealPayload(sess *aead.Session, alg aead.Algorithm, payload []byte) ([]byte, error) {
	if alg == aead.Plain {
		return clone(payload), nil
	}
	return sealPacket(sess, payload)
}

// sealPacket seals plaintext into a fresh buffer in the aead framing.
func sealPacket(sess *aead.Session, plaintext []byte) ([]byte, error) {
	n := len(plaintext)
	buf := make([]byte, aead.HeaderLen+n, aead.HeaderLen+n+aead.TagLen)
	copy(buf[aead.HeaderLen:], plaintext)
	out, err := sess.Seal(buf, n)
	if err != nil {
		return nil, fmt.Errorf("handshake: seal: %w", err)
	}
	return out, nil
}

func openPayload(sess *aead.Session, alg aead.Algorithm, payload []byte) ([]byte, error) {
	if alg == aead.Plain {
		return clone(payload), nil
	}
	pt, err := sess.Open(clone(payload))
	if err != nil {
		return nil, fatal(fmt.Errorf("%w: %w", ErrDecrypt, err))
	}
	return clone(pt), nil
}

func (s *initState) handlePing(m *InitMessage, signer PublicKey) ([]byte, bool, error) {
	k, err := newX25519(s.cfg.Rand)
	if err != nil {
		return nil, false, err
	}
	sess, alg, ext, th, err := s.setupSession(m, signer, k, false)
	if err != nil {
		return nil, false, err
	}
	sealed, err := sealPayload(sess, alg, s.payload)
	if err != nil {
		return nil, false, err
	}
	reply, err := s.send(&outMessage{stage: StagePong, ecdh: k.PublicKey().Bytes(), algs: s.ownAlgs, payload: sealed, ext: s.ext()})
	if err != nil {
		return nil, false, err
	}
	s.session, s.alg, s.extended, s.th = sess, alg, ext, th
	s.peerRelays = s.cfg.Extended && m.Ext.relays()
	s.peerKey, s.havePeerKey = signer, true
	s.nextStage = StagePeng
	return reply, false, nil
}

func (s *initState) handlePong(m *InitMessage, signer PublicKey) ([]byte, bool, error) {
	sess, alg, ext, th, err := s.setupSession(m, signer, s.ecdhPriv, true)
	if err != nil {
		return nil, false, err
	}
	peerPayload, err := openPayload(sess, alg, m.Payload)
	if err != nil {
		return nil, false, err
	}
	sealed, err := sealPayload(sess, alg, s.payload)
	if err != nil {
		return nil, false, err
	}
	reply, err := s.send(&outMessage{stage: StagePeng, payload: sealed})
	if err != nil {
		return nil, false, err
	}
	s.session, s.alg, s.extended, s.th = sess, alg, ext, th
	s.peerRelays = s.cfg.Extended && m.Ext.relays()
	s.peerKey, s.havePeerKey = signer, true
	s.peerPayload = peerPayload
	s.ecdhPriv = nil
	s.nextStage = stageWaitingToClose
	s.closeTime = closeTicks
	return reply, true, nil
}

func (s *initState) handlePeng(m *InitMessage) ([]byte, bool, error) {
	peerPayload, err := openPayload(s.session, s.alg, m.Payload)
	if err != nil {
		return nil, false, err
	}
	s.peerPayload = peerPayload
	s.nextStage = stageClosing
	return nil, true, nil
}

// tick is VpnCloud's every_second: repeat the last message, count down
// the close time, or give up after MaxFailedRetries.
func (s *initState) tick() ([]byte, error) {
	switch s.nextStage {
	case stageWaitingToClose:
		if s.closeTime == 0 {
			s.nextStage = stageClosing
		} else {
			s.closeTime--
		}
		return nil, nil
	case stageClosing:
		return nil, nil
	}
	if s.failedRetries < MaxFailedRetries {
		s.failedRetries++
		if s.lastMessage == nil {
			return nil, nil
		}
		return clone(s.lastMessage), nil
	}
	s.nextStage = stageClosing
	return nil, fatal(ErrTimeout)
}
