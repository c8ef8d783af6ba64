package udpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func listen(t testing.TB, addr string, opts Options) *Socket {
	t.Helper()
	s, err := Listen(addr, opts)
	if err != nil {
		t.Fatalf("Listen(%q): %v", addr, err)
	}
	t.Cleanup(func() { s.Close() })
	if got := s.Offloads(); got.GSO == opts.NoGSO || got.GRO == opts.NoGRO {
		t.Fatalf("Listen(%q, %+v): offloads %+v", addr, opts, got)
	}
	return s
}

// modes are the offload settings every loopback test runs under.
var modes = []struct {
	name string
	opts Options
}{
	{"offloads", Options{}},
	{"plain", Options{NoGSO: true, NoGRO: true}},
}

// forModes runs f once per offload mode, checking that the offloads the
// mode asks for are the ones in use (loopback supports both).
func forModes(t *testing.T, f func(t *testing.T, o Options)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { f(t, m.opts) })
	}
}

func forceIPv4(o Options) Options {
	o.ForceIPv4 = true
	return o
}

func makeMsgs(n, size int) []Message {
	m := make([]Message, n)
	for i := range m {
		m[i].Buf = make([]byte, size)
	}
	return m
}

// readAll reads until want messages arrived, within a deadline.
func readAll(t *testing.T, c Conn, want int) []Message {
	t.Helper()
	var got []Message
	done := make(chan error, 1)
	go func() {
		msgs := makeMsgs(16, 2048)
		for len(got) < want {
			n, err := c.ReadBatch(msgs)
			if err != nil {
				done <- err
				return
			}
			for _, m := range msgs[:n] {
				got = append(got, Message{Buf: append([]byte(nil), m.Buf[:m.N]...), N: m.N, Addr: m.Addr})
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
	case <-time.After(5 * time.Second):
		c.Close()
		<-done
		t.Fatalf("timed out with %d of %d messages", len(got), want)
	}
	return got
}

func sendBatch(t *testing.T, c Conn, to netip.AddrPort, count int) {
	t.Helper()
	msgs := make([]Message, count)
	for i := range msgs {
		p := fmt.Appendf(nil, "msg %d", i)
		msgs[i] = Message{Buf: append(p, make([]byte, 8)...), N: len(p), Addr: to}
	}
	n, err := c.WriteBatch(msgs)
	if err != nil || n != count {
		t.Fatalf("WriteBatch = %d, %v; want %d", n, err, count)
	}
}

func checkBatch(t *testing.T, got []Message, from netip.AddrPort) {
	t.Helper()
	for i, m := range got {
		if want := fmt.Sprintf("msg %d", i); string(m.Buf) != want || m.Addr != from {
			t.Fatalf("message %d = %q from %v, want %q from %v", i, m.Buf, m.Addr, want, from)
		}
	}
}

func TestLoopbackIPv4(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		a := listen(t, "127.0.0.1:0", o)
		b := listen(t, "127.0.0.1:0", o)
		if !a.DualStack() || !a.LocalAddr().Addr().Is4() {
			t.Fatalf("local %v dual %v; want plain IPv4 on a dual-stack socket", a.LocalAddr(), a.DualStack())
		}
		sendBatch(t, a, b.LocalAddr(), 10)
		checkBatch(t, readAll(t, b, 10), a.LocalAddr())
	})
}

func TestLoopbackIPv6(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		a := listen(t, "[::1]:0", o)
		b := listen(t, "[::1]:0", o)
		sendBatch(t, a, b.LocalAddr(), 10)
		checkBatch(t, readAll(t, b, 10), a.LocalAddr())
	})
}

func TestDualStackServesBothFamilies(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		srv := listen(t, ":0", o)
		if srv.LocalAddr().Addr() != netip.IPv6Unspecified() {
			t.Fatalf("local = %v, want [::]", srv.LocalAddr())
		}
		port := srv.LocalAddr().Port()
		v4 := listen(t, "127.0.0.1:0", forceIPv4(o))
		v6 := listen(t, "[::1]:0", o)

		sendBatch(t, v4, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), 3)
		got := readAll(t, srv, 3)
		// The sender is reported as plain IPv4, never ::ffff:127.0.0.1.
		checkBatch(t, got, v4.LocalAddr())
		if !got[0].Addr.Addr().Is4() {
			t.Fatalf("address %v not unmapped", got[0].Addr)
		}
		// Replying to that plain IPv4 address goes out v4-mapped and arrives.
		sendBatch(t, srv, got[0].Addr, 3)
		checkBatch(t, readAll(t, v4, 3), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port))
		// A v4-mapped destination works too.
		sendBatch(t, srv, netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), v4.LocalAddr().Port()), 2)
		readAll(t, v4, 2)

		sendBatch(t, v6, netip.AddrPortFrom(netip.IPv6Loopback(), port), 3)
		checkBatch(t, readAll(t, srv, 3), v6.LocalAddr())
	})
}

func TestForceIPv4(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		s := listen(t, ":0", forceIPv4(o))
		if s.DualStack() || s.LocalAddr().Addr() != netip.IPv4Unspecified() {
			t.Fatalf("ForceIPv4: local %v dual %v", s.LocalAddr(), s.DualStack())
		}
		peer := listen(t, "127.0.0.1:0", o)
		to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.LocalAddr().Port())
		sendBatch(t, peer, to, 4)
		checkBatch(t, readAll(t, s, 4), peer.LocalAddr())
		sendBatch(t, s, peer.LocalAddr(), 4)
		checkBatch(t, readAll(t, peer, 4), to)

		// An IPv6 destination fails for that message only; earlier ones are sent.
		msgs := []Message{
			{Buf: []byte("msg 0"), N: 5, Addr: peer.LocalAddr()},
			{Buf: []byte("v6"), N: 2, Addr: netip.MustParseAddrPort("[::1]:9")},
			{Buf: []byte("msg 1"), N: 5, Addr: peer.LocalAddr()},
		}
		n, err := s.WriteBatch(msgs)
		if n != 1 || !errors.Is(err, ErrAddressFamily) {
			t.Fatalf("WriteBatch = %d, %v; want 1, ErrAddressFamily", n, err)
		}
		n, err = s.WriteBatch(msgs[n+1:])
		if n != 1 || err != nil {
			t.Fatalf("WriteBatch of the rest = %d, %v", n, err)
		}
		checkBatch(t, readAll(t, peer, 2), to)

		if _, err := Listen("[::1]:0", forceIPv4(o)); !errors.Is(err, ErrAddressFamily) {
			t.Fatalf("IPv6 address on IPv4-only: %v", err)
		}
	})
}

func TestListenErrors(t *testing.T) {
	if _, err := Listen("nonsense", Options{}); !errors.Is(err, ErrBadListen) {
		t.Errorf("bad address: %v", err)
	}
	a := listen(t, "127.0.0.1:0", Options{})
	if _, err := Listen(a.LocalAddr().String(), Options{}); err == nil {
		t.Errorf("binding a used port succeeded")
	}
}

func TestWriteBatchRejectsBadMessages(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		a := listen(t, "127.0.0.1:0", o)
		for _, m := range []Message{
			{Buf: []byte("x"), N: 2, Addr: a.LocalAddr()},
			{Buf: []byte("x"), N: -1, Addr: a.LocalAddr()},
		} {
			if n, err := a.WriteBatch([]Message{m}); n != 0 || !errors.Is(err, ErrBadMessage) {
				t.Errorf("WriteBatch(%+v) = %d, %v", m, n, err)
			}
		}
		if n, err := a.WriteBatch([]Message{{Buf: []byte("x"), N: 1}}); n != 0 || !errors.Is(err, ErrBadAddress) {
			t.Errorf("zero address: %d, %v", n, err)
		}
		if n, err := a.WriteBatch(nil); n != 0 || err != nil {
			t.Errorf("empty batch: %d, %v", n, err)
		}
		if n, err := a.ReadBatch(nil); n != 0 || err != nil {
			t.Errorf("empty read: %d, %v", n, err)
		}
	})
}

func TestBatchesLongerThanMaxBatch(t *testing.T) {
	// Without offloads, MaxBatch bounds each read (see the GRO tests for
	// reads with them).
	a := listen(t, "127.0.0.1:0", Options{MaxBatch: 4, NoGSO: true, NoGRO: true})
	b := listen(t, "127.0.0.1:0", Options{MaxBatch: 4, NoGSO: true, NoGRO: true})
	sendBatch(t, a, b.LocalAddr(), 11)
	msgs := makeMsgs(16, 64)
	time.Sleep(50 * time.Millisecond)
	n, err := b.ReadBatch(msgs)
	if err != nil || n != 4 {
		t.Fatalf("ReadBatch with MaxBatch 4 = %d, %v; want 4", n, err)
	}
	rest := readAll(t, b, 7)
	if string(rest[6].Buf) != "msg 10" {
		t.Fatalf("last = %q", rest[6].Buf)
	}
}

func TestEmptyAndTruncatedDatagrams(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		a := listen(t, "127.0.0.1:0", o)
		b := listen(t, "127.0.0.1:0", o)
		msgs := []Message{
			{Buf: nil, N: 0, Addr: b.LocalAddr()},
			{Buf: []byte("0123456789"), N: 10, Addr: b.LocalAddr()},
		}
		if n, err := a.WriteBatch(msgs); n != 2 || err != nil {
			t.Fatalf("WriteBatch = %d, %v", n, err)
		}
		r := []Message{{Buf: make([]byte, 8)}, {Buf: make([]byte, 4)}}
		got := 0
		deadline := time.Now().Add(5 * time.Second)
		for got < 2 && time.Now().Before(deadline) {
			n, err := b.ReadBatch(r[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		if r[0].N != 0 || r[1].N != 4 || string(r[1].Buf) != "0123" {
			t.Fatalf("got N=%d and N=%d %q", r[0].N, r[1].N, r[1].Buf)
		}
	})
}

func TestCloseUnblocksReadBatch(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		s, err := Listen("127.0.0.1:0", o)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error)
		for range 2 {
			go func() {
				_, err := s.ReadBatch(makeMsgs(4, 64))
				errc <- err
			}()
		}
		time.Sleep(50 * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("ReadBatch after Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not unblock ReadBatch")
			}
		}
		if _, err := s.WriteBatch([]Message{{Buf: []byte("x"), N: 1, Addr: netip.MustParseAddrPort("127.0.0.1:9")}}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("WriteBatch after Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestSteadyStateAllocations(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		for _, tc := range []struct{ name, a, b string }{{"v4", "127.0.0.1:0", "127.0.0.1:0"}, {"v6", "[::1]:0", "[::1]:0"}, {"dual", ":0", "127.0.0.1:0"}} {
			t.Run(tc.name, func(t *testing.T) {
				a := listen(t, tc.a, o)
				b := listen(t, tc.b, o)
				watchdog(t, b)
				to := b.LocalAddr()
				const batch = 32
				out := makeMsgs(batch, 1400)
				for i := range out {
					out[i].N, out[i].Addr = 1400, to
				}
				in := makeMsgs(batch, 2048)
				allocs := testing.AllocsPerRun(50, func() {
					if n, err := a.WriteBatch(out); err != nil || n != batch {
						t.Fatalf("WriteBatch = %d, %v", n, err)
					}
					for got := 0; got < batch; {
						n, err := b.ReadBatch(in)
						if err != nil {
							t.Fatal(err)
						}
						got += n
					}
				})
				if allocs != 0 {
					t.Fatalf("%.1f allocations per batch round trip, want 0", allocs)
				}
			})
		}
	})
}

func TestAutomaticIPv4Fallback(t *testing.T) {
	orig := bindFunc
	defer func() { bindFunc = orig }()
	bindFunc = func(ap netip.AddrPort, v6, reuse bool) (int, error) {
		if v6 {
			return -1, fmt.Errorf("socket: %w", unix.EAFNOSUPPORT) // kernel without IPv6
		}
		return orig(ap, v6, reuse)
	}
	for _, addr := range []string{":0", "127.0.0.1:0"} {
		s := listen(t, addr, Options{})
		if s.DualStack() || !s.LocalAddr().Addr().Is4() {
			t.Fatalf("%s: local %v dual %v; want IPv4 fallback", addr, s.LocalAddr(), s.DualStack())
		}
		peer := listen(t, "127.0.0.1:0", Options{ForceIPv4: true})
		to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.LocalAddr().Port())
		sendBatch(t, peer, to, 2)
		checkBatch(t, readAll(t, s, 2), peer.LocalAddr())
	}
	// A specific IPv6 address cannot fall back.
	if _, err := Listen("[::1]:0", Options{}); !errors.Is(err, unix.EAFNOSUPPORT) {
		t.Fatalf("[::1] without IPv6: %v", err)
	}
	// Other bind errors are not mistaken for a missing IPv6 stack.
	bindFunc = func(netip.AddrPort, bool, bool) (int, error) { return -1, unix.EACCES }
	if _, err := Listen(":0", Options{}); !errors.Is(err, unix.EACCES) {
		t.Fatalf("EACCES: %v", err)
	}
}

// TestBufferSizes checks that the buffer sizes asked for reach the socket
// (the kernel reports twice the request, its bookkeeping overhead
// included), and that zero asks for DefaultBufferSize.
func TestBufferSizes(t *testing.T) {
	get := func(s *Socket, opt int) int {
		t.Helper()
		var v int
		var gerr error
		if err := s.rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		return v
	}
	small := listen(t, "127.0.0.1:0", Options{RecvBuffer: 64 << 10, SendBuffer: 32 << 10})
	if r, w := get(small, unix.SO_RCVBUF), get(small, unix.SO_SNDBUF); r != 128<<10 || w != 64<<10 {
		t.Errorf("asked 64/32 KiB: SO_RCVBUF %d, SO_SNDBUF %d, want %d, %d", r, w, 128<<10, 64<<10)
	}
	def := listen(t, "127.0.0.1:0", Options{})
	r := get(def, unix.SO_RCVBUF)
	max, err := readIntFile("/proc/sys/net/core/rmem_max")
	switch {
	case err == nil && unix.Geteuid() != 0 && max < DefaultBufferSize:
		// Without root the kernel caps the request at rmem_max.
		if r != 2*max {
			t.Errorf("default SO_RCVBUF %d, want 2×rmem_max %d", r, 2*max)
		}
	case r != 2*DefaultBufferSize:
		t.Errorf("default SO_RCVBUF %d, want 2×%d", r, DefaultBufferSize)
	}
}

func readIntFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
