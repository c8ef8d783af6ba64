package control

import (
	"context"
	"net/netip"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/peercloud/peercloud/handshake"
	"github.com/peercloud/peercloud/pipeline"
)

// recordingDP is a DataPlane that records what the node sends.
type recordingDP struct{ sent int }

func (d *recordingDP) Control() <-chan pipeline.ControlPacket { return nil }
func (d *recordingDP) Publish(*pipeline.Snapshot)             {}
func (d *recordingDP) SendTo(netip.AddrPort, []byte) error    { d.sent++; return nil }
func newObservedNode(t *testing.T) (*Node, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	hc := &handshake.Config{Identity: testIdentity, Algorithms: testSpeeds, Extended: true}
	n, err := New(Config{Handshake: hc, Log: zap.New(core)}, &recordingDP{})
	if err != nil {
		t.Fatal(err)
	}
	return n, logs
}

// TestStrayHandshakeMessagesLogAtDebug: a pong or peng that reaches a node
// with no handshake for its sender (a repeat after the handshake is over) is
// counted and logged at debug level only, while a ping from an untrusted
// key still gets an info line (a misconfiguration the user must see).
func TestStrayHandshakeMessagesLogAtDebug(t *testing.T) {
	from := netip.MustParseAddrPort("192.0.2.9:3210")
	a, err := handshake.NewPeer(&handshake.Config{Identity: testIdentity, Algorithms: testSpeeds, NodeID: [16]byte{1}}, []byte{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := handshake.NewPeer(&handshake.Config{Identity: testIdentity, Algorithms: testSpeeds, NodeID: [16]byte{2}}, []byte{})
	ping, _ := a.Start()
	res, err := b.HandleInit(ping)
	if err != nil || len(res.Replies) == 0 {
		t.Fatalf("pong: %v", err)
	}
	pong := res.Replies[0]

	n, logs := newObservedNode(t)
	n.handleInit(context.Background(), from, pong)
	if n.Counters.Invalid.Load() != 1 {
		t.Fatalf("stray pong: %d invalid", n.Counters.Invalid.Load())
	}
	if got := logs.FilterLevelExact(zap.InfoLevel).Len(); got != 0 {
		t.Fatalf("stray pong logged %d info lines: %v", got, logs.All())
	}
	if len(n.pending) != 0 {
		t.Fatal("a stray pong left a pending handshake")
	}

	untrusted, _ := handshake.NewPeer(&handshake.Config{Identity: handshake.IdentityFromPassword("other"), Algorithms: testSpeeds, NodeID: [16]byte{3}}, []byte{})
	ping2, _ := untrusted.Start()
	n.handleInit(context.Background(), from, ping2)
	untrustedLines := func() int {
		return logs.FilterMessageSnippet("untrusted key").FilterLevelExact(zap.InfoLevel).Len()
	}
	if n.Counters.Invalid.Load() != 2 || untrustedLines() != 1 {
		t.Fatalf("untrusted ping: %d invalid, logs %v", n.Counters.Invalid.Load(), logs.All())
	}
	// Repeats within a minute are counted, not logged again.
	n.handleInit(context.Background(), from, ping2)
	n.now += untrustedLogInterval
	n.handleInit(context.Background(), from, ping2)
	if n.Counters.Invalid.Load() != 4 || untrustedLines() != 2 {
		t.Fatalf("repeated untrusted pings: %d invalid, %d info lines", n.Counters.Invalid.Load(), untrustedLines())
	}
}
