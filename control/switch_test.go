package control

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/peercloud/peercloud/tunio/tuntest"
	"github.com/peercloud/peercloud/udpio/udptest"
)

var (
	macA      = [6]byte{0x02, 0, 0, 0, 0, 0xa}
	macB      = [6]byte{0x02, 0, 0, 0, 0, 0xb}
	macC      = [6]byte{0x02, 0, 0, 0, 0, 0xc}
	macX      = [6]byte{0x02, 0, 0, 0, 0, 0x99}
	broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// tapTrio starts three TAP nodes; b and c know only a, and the peer lists
// make a full mesh.
func tapTrio(t *testing.T, learning, flood bool) (a, b, c *testNode) {
	t.Helper()
	network := udptest.NewNetwork()
	now := time.Unix(1_700_000_000, 0)
	clock := &now
	o := nodeOpts{tap: true, learning: learning, flood: flood}
	a = startNode(t, network, "192.0.2.1:3210", now, o)
	o.peers = []string{"192.0.2.1:3210"}
	b = startNode(t, network, "192.0.2.2:3210", now, o)
	c = startNode(t, network, "192.0.2.3:3210", now, o)
	all := []*testNode{a, b, c}
	waitFor(t, "full mesh of three", clock, all, func() bool {
		return a.connectedTo(b.addr) && a.connectedTo(c.addr) && b.connectedTo(c.addr) && c.connectedTo(b.addr) &&
			b.connectedTo(a.addr) && c.connectedTo(a.addr)
	})
	return a, b, c
}

func frame(dst, src [6]byte, payload string) []byte {
	return tuntest.EthernetFrame(dst, src, 0x0800, []byte(payload))
}

func vlanFrame(vlan uint16, dst, src [6]byte, payload string) []byte {
	f := append(append(append([]byte{}, dst[:]...), src[:]...), 0x81, 0x00)
	f = binary.BigEndian.AppendUint16(f, vlan)
	f = append(f, 0x08, 0x00)
	return append(f, payload...)
}

// expect asserts which nodes' devices emit f after it entered from's.
func expect(t *testing.T, from *testNode, f []byte, receivers []*testNode, silent []*testNode) {
	t.Helper()
	from.dev.Inbound <- f
	for _, r := range receivers {
		select {
		case got := <-r.dev.Outbound:
			if !bytes.Equal(got, f) {
				t.Fatalf("%s emitted %x, want %x", r.addr, got, f)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not receive the frame", r.addr)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, s := range silent {
		select {
		case got := <-s.dev.Outbound:
			t.Fatalf("%s received a frame meant for others: %x", s.addr, got)
		default:
		}
	}
}

func TestSwitchLearnsAndFloods(t *testing.T) {
	a, b, c := tapTrio(t, true, true)
	// Broadcast goes everywhere; b and c learn macA behind a.
	expect(t, a, frame(broadcast, macA, "who has b?"), []*testNode{b, c}, nil)
	// b answers macA: learned, so only a gets it; a learns macB.
	expect(t, b, frame(macA, macB, "b is here"), []*testNode{a}, []*testNode{c})
	expect(t, a, frame(macB, macA, "hello b"), []*testNode{b}, []*testNode{c})
	// An unknown destination is flooded.
	expect(t, c, frame(macX, macC, "anyone?"), []*testNode{a, b}, nil)
	// VLANs are separate address spaces: macB is unknown on VLAN 5.
	expect(t, a, vlanFrame(5, macB, macA, "vlan 5"), []*testNode{b, c}, nil)
	// ... and learned there once seen.
	expect(t, b, vlanFrame(5, macA, macB, "vlan 5 back"), []*testNode{a}, []*testNode{c})
	if a.pl.Counters.Flooded.Load() == 0 {
		t.Fatal("flooded frames were not counted")
	}
}

func TestHubFloodsEverything(t *testing.T) {
	a, b, c := tapTrio(t, false, true)
	expect(t, b, frame(macA, macB, "b to a"), []*testNode{a, c}, nil)
	expect(t, a, frame(macB, macA, "a to b"), []*testNode{b, c}, nil)
}

func TestTAPRouterWithoutClaimsDrops(t *testing.T) {
	a, b, c := tapTrio(t, false, false)
	expect(t, a, frame(macB, macA, "nobody claims b"), nil, []*testNode{b, c})
	if a.pl.Counters.DropNoRoute.Load() != 1 {
		t.Fatalf("DropNoRoute = %d, want 1", a.pl.Counters.DropNoRoute.Load())
	}
}
