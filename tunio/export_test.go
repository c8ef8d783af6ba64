package tunio

import (
	"errors"
	"net/netip"
)

// Test-only access for the root tests in package tunio_test.

// SetOffloadFailure makes TUNSETOFFLOAD fail for the rest of the test,
// simulating a kernel without offloads; the returned func restores it.
func SetOffloadFailure() (restore func()) {
	orig := setOffload
	setOffload = func(int, int) error { return errors.New("simulated: offloads unsupported") }
	return func() { setOffload = orig }
}

// Superpackets returns how many superpackets t has split (read) and
// coalesced (written).
func Superpackets(t *Tun) (split, merged uint64) { return t.split.Load(), t.merged.Load() }

// BuildPacket makes an IPv4 or IPv6 TCP (or UDP) packet from src to dst
// with reference checksums.
func BuildPacket(src, dst netip.AddrPort, udp bool, seq, ack uint32, flags uint8, opts, payload []byte) []byte {
	return build(spec{v6: src.Addr().Is6(), udp: udp, src: src.Addr().AsSlice(), dst: dst.Addr().AsSlice(),
		sport: src.Port(), dport: dst.Port(), seq: seq, ack: ack, flags: flags, opts: opts, payload: payload})
}

// PacketOK reports whether p's length fields and checksums verify.
func PacketOK(p []byte) bool {
	ok := true
	verify(failer{&ok}, p)
	return ok
}

type failer struct{ ok *bool }

func (f failer) Helper()               {}
func (f failer) Fatalf(string, ...any) { *f.ok = false }
