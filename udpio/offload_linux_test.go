package udpio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// payload fills a datagram of size n that identifies (stream, seq).
func payload(stream, seq, n int) []byte {
	b := make([]byte, n, 2048)
	for k := range b {
		b[k] = byte(stream*31 + seq*7 + k)
	}
	if n >= 8 {
		binary.BigEndian.PutUint32(b, uint32(stream))
		binary.BigEndian.PutUint32(b[4:], uint32(seq))
	}
	return b
}

// sent records what a test sent to one destination, in order.
type sent struct {
	to   netip.AddrPort
	msgs [][]byte
}

func (s *sent) add(stream, n int) Message {
	p := payload(stream, len(s.msgs), n)
	s.msgs = append(s.msgs, p)
	return Message{Buf: p[:cap(p)], N: n, Addr: s.to}
}

// expect reads len(want.msgs) datagrams from c and compares them, in
// order, with what was sent from from.
func expect(t *testing.T, c Conn, from netip.AddrPort, want *sent) {
	t.Helper()
	got := readAll(t, c, len(want.msgs))
	for i, m := range got {
		if m.Addr != from || !slices.Equal(m.Buf, want.msgs[i]) {
			t.Fatalf("datagram %d: %d bytes from %v, want %d bytes from %v (equal=%v)",
				i, len(m.Buf), m.Addr, len(want.msgs[i]), from, slices.Equal(m.Buf, want.msgs[i]))
		}
	}
}

// watchdog closes s if the test is still running after 10 s, so a read
// waiting for datagrams that never come fails instead of hanging.
func watchdog(t *testing.T, s *Socket) {
	timer := time.AfterFunc(10*time.Second, func() { s.Close() })
	t.Cleanup(func() { timer.Stop() })
}

func write(t *testing.T, c *Socket, msgs []Message) {
	t.Helper()
	if n, err := c.WriteBatch(msgs); err != nil || n != len(msgs) {
		t.Fatalf("WriteBatch = %d, %v; want %d", n, err, len(msgs))
	}
}

// refGroups is the naive statement of the grouping rule: a run takes
// following messages to the same address of the same size, or one shorter
// one that ends it, up to 64 messages and the byte limit.
func refGroups(msgs []Message) []int {
	var groups []int
	for i := 0; i < len(msgs); {
		n := 1
		if msgs[i].N > 0 {
			sum := msgs[i].N
			for i+n < len(msgs) && n < 64 {
				m := msgs[i+n]
				if m.Addr != msgs[i].Addr || m.N <= 0 || m.N > msgs[i].N || sum+m.N > gsoMaxBytes(m.Addr) {
					break
				}
				sum += m.N
				n++
				if m.N < msgs[i].N {
					break
				}
			}
		}
		groups = append(groups, n)
		i += n
	}
	return groups
}

// groups builds headers for msgs, one sendmmsg's worth after another as
// WriteBatch does, without sending, and returns their message counts.
func groups(s *Socket, msgs []Message) []int {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var counts []int
	for len(msgs) > 0 {
		nh, used, err := s.buildLocked(msgs, 0)
		if err != nil {
			panic(err)
		}
		counts = append(counts, s.w.counts[:nh]...)
		msgs = msgs[used:]
	}
	return counts
}

func TestGroupingMatchesReference(t *testing.T) {
	s := listen(t, ":0", Options{})
	dests := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9"), netip.MustParseAddrPort("[::1]:9"), netip.MustParseAddrPort("127.0.0.2:9")}
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 100, 1400, 1400, 1400, 2000}
	buf := make([]byte, 2048)
	for iter := range 2000 {
		msgs := make([]Message, 1+rng.IntN(64))
		d, sz := rng.IntN(len(dests)), sizes[rng.IntN(len(sizes))]
		for i := range msgs {
			// Mostly runs: keep the previous destination and size.
			if rng.IntN(8) == 0 {
				d = rng.IntN(len(dests))
			}
			if rng.IntN(6) == 0 {
				sz = sizes[rng.IntN(len(sizes))]
			}
			msgs[i] = Message{Buf: buf, N: sz, Addr: dests[d]}
		}
		if got, want := groups(s, msgs), refGroups(msgs); !slices.Equal(got, want) {
			t.Fatalf("iteration %d: groups %v, want %v", iter, got, want)
		}
	}
	for _, tc := range []struct {
		name  string
		sizes []int
		want  []int
	}{
		{"equal", []int{1000, 1000, 1000}, []int{3}},
		{"last shorter", []int{1000, 1000, 500}, []int{3}},
		{"shorter in the middle", []int{1000, 1000, 500, 1000, 1000}, []int{3, 2}},
		{"first shorter", []int{500, 1000, 1000}, []int{1, 2}},
		{"empty splits", []int{1000, 0, 1000}, []int{1, 1, 1}},
		{"64 segments", slices.Repeat([]int{10}, 150), []int{64, 64, 22}},
		{"64 KiB", slices.Repeat([]int{1400}, 60), []int{46, 14}},
	} {
		msgs := make([]Message, len(tc.sizes))
		for i, n := range tc.sizes {
			msgs[i] = Message{Buf: buf, N: n, Addr: dests[0]}
		}
		if got := groups(s, msgs); !slices.Equal(got, tc.want) {
			t.Errorf("%s: groups %v, want %v", tc.name, got, tc.want)
		}
	}
	// A different destination, even the same address on another port,
	// starts a new run.
	msgs := []Message{{Buf: buf, N: 10, Addr: dests[0]}, {Buf: buf, N: 10, Addr: netip.MustParseAddrPort("127.0.0.1:10")}}
	if got := groups(s, msgs); !slices.Equal(got, []int{1, 1}) {
		t.Errorf("other port: groups %v", got)
	}
}

// offloadPairs are the sender × receiver combinations of the GSO tests.
var offloadPairs = []struct {
	name   string
	tx, rx Options
}{
	{"gso-gro", Options{}, Options{}},
	{"gso-nogro", Options{}, Options{NoGRO: true}},
	{"nogso-gro", Options{NoGSO: true}, Options{}},
	{"plain", Options{NoGSO: true, NoGRO: true}, Options{NoGSO: true, NoGRO: true}},
}

func TestGSORunsArriveIntact(t *testing.T) {
	for _, pc := range offloadPairs {
		t.Run(pc.name, func(t *testing.T) {
			for _, fam := range []struct{ name, addr string }{{"v4", "127.0.0.1:0"}, {"v6", "[::1]:0"}} {
				t.Run(fam.name, func(t *testing.T) {
					tx := listen(t, fam.addr, pc.tx)
					rx := listen(t, fam.addr, pc.rx)
					for _, tc := range []struct {
						name  string
						sizes []int
					}{
						{"64 equal", slices.Repeat([]int{1000}, 64)},
						{"last shorter", append(slices.Repeat([]int{1200}, 20), 77)},
						{"longer than 64", slices.Repeat([]int{100}, 150)},
						{"beyond 64 KiB", slices.Repeat([]int{1400}, 60)},
						{"tiny", slices.Repeat([]int{1}, 70)},
					} {
						s := sent{to: rx.LocalAddr()}
						var msgs []Message
						for _, n := range tc.sizes {
							msgs = append(msgs, s.add(0, n))
						}
						before, beforeGRO := tx.gsoSent.Load(), rx.groCoalesce.Load()
						write(t, tx, msgs)
						expect(t, rx, tx.LocalAddr(), &s)
						gsoMsgs, groMsgs := tx.gsoSent.Load()-before, rx.groCoalesce.Load()-beforeGRO
						if (gsoMsgs > 0) == pc.tx.NoGSO {
							t.Fatalf("%s: %d GSO sends with NoGSO=%v", tc.name, gsoMsgs, pc.tx.NoGSO)
						}
						// Loopback delivers a GSO send coalesced to a GRO
						// socket, and as separate datagrams otherwise.
						if wantGRO := !pc.tx.NoGSO && !pc.rx.NoGRO; (groMsgs > 0) != wantGRO {
							t.Fatalf("%s: %d coalesced receives, want some: %v", tc.name, groMsgs, wantGRO)
						}
					}
				})
			}
		})
	}
}

func TestMixedBatchOrderAndIntegrity(t *testing.T) {
	for _, pc := range offloadPairs {
		t.Run(pc.name, func(t *testing.T) {
			tx := listen(t, ":0", pc.tx) // dual-stack: sends to both families
			rxs := []*Socket{
				listen(t, "127.0.0.1:0", pc.rx),
				listen(t, "[::1]:0", pc.rx),
				listen(t, "127.0.0.1:0", forceIPv4(pc.rx)),
			}
			from := []netip.AddrPort{
				netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tx.LocalAddr().Port()),
				netip.AddrPortFrom(netip.IPv6Loopback(), tx.LocalAddr().Port()),
				netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tx.LocalAddr().Port()),
			}
			streams := make([]sent, len(rxs))
			for i, rx := range rxs {
				streams[i].to = rx.LocalAddr()
			}
			rng := rand.New(rand.NewPCG(3, 4))
			sizes := []int{1, 60, 1400, 1400, 1452, 2048}
			for range 10 {
				msgs := make([]Message, 0, 64)
				d, sz := 0, 1400
				for range 64 {
					if rng.IntN(10) == 0 {
						d = rng.IntN(len(rxs))
					}
					n := sz
					switch rng.IntN(12) {
					case 0:
						sz = sizes[rng.IntN(len(sizes))]
						n = sz
					case 1:
						n = rng.IntN(sz) + 1 // a shorter one, often ending a run
					}
					msgs = append(msgs, streams[d].add(d, n))
				}
				write(t, tx, msgs)
			}
			for i, rx := range rxs {
				expect(t, rx, from[i], &streams[i])
			}
		})
	}
}

// sendRuns opens a sender and a receiver with rxOpts and sends three runs
// of 40 1000-byte datagrams, each followed by an odd 10-byte one, which
// GRO coalesces into a few datagrams per run.
func sendRuns(t *testing.T, rxOpts Options) (tx, rx *Socket, s *sent) {
	t.Helper()
	tx = listen(t, "127.0.0.1:0", Options{})
	rx = listen(t, "127.0.0.1:0", rxOpts)
	watchdog(t, rx)
	s = &sent{to: rx.LocalAddr()}
	var msgs []Message
	for range 3 {
		for range 40 {
			msgs = append(msgs, s.add(0, 1000))
		}
		msgs = append(msgs, s.add(0, 10)) // an odd one between runs
	}
	write(t, tx, msgs)
	return tx, rx, s
}

func TestGROLeftoversAcrossCalls(t *testing.T) {
	tx, rx, s := sendRuns(t, Options{GROBuffers: 2})
	// Read with a batch of 7: most calls are served from leftovers of
	// coalesced datagrams, and each returns them in order.
	in := makeMsgs(7, 2048)
	for got := 0; got < len(s.msgs); {
		n, err := rx.ReadBatch(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range in[:n] {
			if m.Addr != tx.LocalAddr() || !slices.Equal(m.Buf[:m.N], s.msgs[got]) {
				t.Fatalf("datagram %d: %d bytes from %v, wrong", got, m.N, m.Addr)
			}
			got++
		}
	}
	if rx.groCoalesce.Load() == 0 {
		t.Fatal("no coalesced datagram received")
	}
	// A short caller buffer truncates each split datagram, as without GRO.
	write(t, tx, []Message{s.add(0, 100), s.add(0, 100)})
	in = []Message{{Buf: make([]byte, 30)}, {Buf: make([]byte, 30)}}
	for got := 0; got < 2; {
		n, err := rx.ReadBatch(in[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	for i, m := range in {
		if m.N != 30 || !slices.Equal(m.Buf, s.msgs[len(s.msgs)-2+i][:30]) {
			t.Fatalf("truncated datagram %d: N=%d", i, m.N)
		}
	}
}

func TestGSOFallback(t *testing.T) {
	orig := sendmmsgSys
	t.Cleanup(func() { sendmmsgSys = orig })
	var refused int
	refuse := func(errno unix.Errno) {
		refused = 0
		sendmmsgSys = func(fd uintptr, hdrs []unix.Mmsghdr) (int, unix.Errno) {
			for i := range hdrs {
				if hdrs[i].Hdr.Controllen > 0 {
					if i == 0 {
						refused++
						return 0, errno
					}
					r, e := orig(fd, hdrs[:i]) // sent up to the refused one
					return r, e
				}
			}
			return orig(fd, hdrs)
		}
	}
	batch := func(s *sent) []Message {
		var msgs []Message
		for range 3 {
			msgs = append(msgs, s.add(0, 50)) // not a run: alone
			for range 10 {
				msgs = append(msgs, s.add(0, 500))
			}
		}
		return msgs
	}
	tx := listen(t, "127.0.0.1:0", Options{})
	rx := listen(t, "127.0.0.1:0", Options{})

	// EINVAL concerns one run (e.g. a segment above the path MTU): it is
	// resent datagram by datagram, and GSO stays on.
	refuse(unix.EINVAL)
	s := sent{to: rx.LocalAddr()}
	write(t, tx, batch(&s))
	expect(t, rx, tx.LocalAddr(), &s)
	if refused != 3 || !tx.Offloads().GSO {
		t.Fatalf("after EINVAL: %d refusals, offloads %+v", refused, tx.Offloads())
	}

	// EIO means the device cannot do it at all: GSO turns off for good.
	refuse(unix.EIO)
	s = sent{to: rx.LocalAddr()}
	write(t, tx, batch(&s))
	expect(t, rx, tx.LocalAddr(), &s)
	if refused != 1 || tx.Offloads().GSO {
		t.Fatalf("after EIO: %d refusals, offloads %+v", refused, tx.Offloads())
	}
	sentBefore := tx.gsoSent.Load()
	s = sent{to: rx.LocalAddr()}
	write(t, tx, batch(&s))
	expect(t, rx, tx.LocalAddr(), &s)
	if refused != 1 || tx.gsoSent.Load() != sentBefore {
		t.Fatal("GSO used after it was turned off")
	}

	// Other errors are returned, with the count of messages before the
	// failed run.
	sendmmsgSys = func(fd uintptr, hdrs []unix.Mmsghdr) (int, unix.Errno) { return 0, unix.EPERM }
	tx2 := listen(t, "127.0.0.1:0", Options{})
	s = sent{to: rx.LocalAddr()}
	if n, err := tx2.WriteBatch(batch(&s)); n != 0 || !errors.Is(err, unix.EPERM) {
		t.Fatalf("EPERM: %d, %v", n, err)
	}
}

func TestOffloadsUnsupported(t *testing.T) {
	origGSO, origGRO := probeGSO, enableGRO
	t.Cleanup(func() { probeGSO, enableGRO = origGSO, origGRO })
	probeGSO = func(int) error { return unix.ENOPROTOOPT }
	enableGRO = func(int) error { return unix.ENOPROTOOPT }
	for _, o := range []Options{{}, {NoGSO: true, NoGRO: true}} {
		tx, err := Listen("127.0.0.1:0", o)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Close()
		rx, err := Listen("127.0.0.1:0", o)
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		if got := tx.Offloads(); got != (Offloads{}) {
			t.Fatalf("offloads %+v on a kernel without them", got)
		}
		s := sent{to: rx.LocalAddr()}
		var msgs []Message
		for range 20 {
			msgs = append(msgs, s.add(0, 300))
		}
		write(t, tx, msgs)
		expect(t, rx, tx.LocalAddr(), &s)
		if tx.gsoSent.Load() != 0 {
			t.Fatal("GSO used though the probe failed")
		}
	}
}

func TestOffloadAllocations(t *testing.T) {
	for _, fam := range []struct{ name, a, b string }{{"v4", "127.0.0.1:0", "127.0.0.1:0"}, {"v6", "[::1]:0", "[::1]:0"}, {"dual", ":0", "127.0.0.1:0"}} {
		t.Run(fam.name, func(t *testing.T) {
			a := listen(t, fam.a, Options{})
			b := listen(t, fam.b, Options{GROBuffers: 2})
			watchdog(t, b)
			to := b.LocalAddr()
			// 64 datagrams: runs split by the 64 KiB limit and by a second
			// destination, read back in batches of 24 (leftovers).
			out := makeMsgs(64, 2048)
			for i := range out {
				out[i].N, out[i].Addr = 1400, to
				if i%20 == 19 {
					out[i].N = 700
				}
			}
			in := makeMsgs(24, 2048)
			allocs := testing.AllocsPerRun(50, func() {
				write(t, a, out)
				for got := 0; got < len(out); {
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
			if a.gsoSent.Load() == 0 || b.groCoalesce.Load() == 0 {
				t.Fatal("offloads not exercised")
			}
		})
	}
}

func TestGROSize(t *testing.T) {
	cmsg := func(level, typ int, data []byte) []byte {
		b := make([]byte, unix.CmsgSpace(len(data)))
		putCmsgHeader(b, unix.CmsgLen(len(data)), level, typ)
		copy(b[unix.SizeofCmsghdr:], data)
		return b
	}
	le32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	gro := cmsg(unix.SOL_UDP, unix.UDP_GRO, le32(1400))
	other := cmsg(unix.SOL_IP, unix.IP_TOS, le32(1))
	for _, tc := range []struct {
		name string
		b    []byte
		want int
	}{
		{"gro", gro, 1400},
		{"after another", append(slices.Clone(other), gro...), 1400},
		{"uint16", cmsg(unix.SOL_UDP, unix.UDP_GRO, []byte{0x78, 0x05}[:2]), int(binary.NativeEndian.Uint16([]byte{0x78, 0x05}))},
		{"negative", cmsg(unix.SOL_UDP, unix.UDP_GRO, le32(0xffffffff)), 0},
		{"none", nil, 0},
		{"other only", other, 0},
		{"truncated header", gro[:unix.SizeofCmsghdr-1], 0},
		{"truncated data", gro[:unix.SizeofCmsghdr+1], 0},
		{"short length", cmsg(unix.SOL_UDP, unix.UDP_GRO, nil), 0},
	} {
		if got := groSize(tc.b); got != tc.want {
			t.Errorf("%s: groSize = %d, want %d", tc.name, got, tc.want)
		}
	}
	b := make([]byte, gsoCtrlSize)
	putSegmentCmsg(b, 1400)
	if l := binary.NativeEndian.Uint16(b[unix.SizeofCmsghdr:]); l != 1400 || groSize(b) != 0 {
		t.Fatalf("segment cmsg: %d", l)
	}
}

func FuzzGROSize(f *testing.F) {
	f.Add([]byte{})
	b := make([]byte, unix.CmsgSpace(4))
	putCmsgHeader(b, unix.CmsgLen(4), unix.SOL_UDP, unix.UDP_GRO)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := groSize(b); n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}

func TestListenShards(t *testing.T) {
	for _, tc := range []struct{ name, addr, dst string }{{"v4", "127.0.0.1:0", "127.0.0.1"}, {"dual", ":0", "::1"}, {"dual-v4", ":0", "127.0.0.1"}} {
		t.Run(tc.name, func(t *testing.T) {
			shards, err := ListenShards(tc.addr, 4, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range shards {
				t.Cleanup(func() { s.Close() })
				if s.LocalAddr() != shards[0].LocalAddr() || !s.Offloads().ReusePort {
					t.Fatalf("shard %v (offloads %+v), first %v", s.LocalAddr(), s.Offloads(), shards[0].LocalAddr())
				}
			}
			// A socket without SO_REUSEPORT cannot join the port.
			if s, err := ListenAddrPort(shards[0].LocalAddr(), Options{}); err == nil {
				s.Close()
				t.Fatal("plain socket bound a sharded port")
			}
			to := netip.AddrPortFrom(netip.MustParseAddr(tc.dst), shards[0].LocalAddr().Port())
			// 64 peers, three datagrams each: the kernel hashes each peer
			// to one shard; with 4 shards every one gets some (the chance
			// of an empty shard is about 4·(3/4)^64 ≈ 4e-8).
			const peers = 64
			senders := make(map[netip.AddrPort]bool)
			for range peers {
				p := listen(t, netip.AddrPortFrom(netip.MustParseAddr(tc.dst), 0).String(), Options{})
				senders[p.LocalAddr()] = true
				sendBatch(t, p, to, 3)
			}
			seenBy := make(map[netip.AddrPort]int)
			for i, s := range shards {
				var got []Message
				for {
					in := makeMsgs(16, 64)
					n, err := readNow(s, in)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						break
					}
					got = append(got, in[:n]...)
				}
				if len(got) == 0 {
					t.Fatalf("shard %d received nothing", i)
				}
				for _, m := range got {
					if prev, ok := seenBy[m.Addr]; ok && prev != i {
						t.Fatalf("peer %v seen by shards %d and %d", m.Addr, prev, i)
					}
					seenBy[m.Addr] = i
				}
			}
			if len(seenBy) != peers {
				t.Fatalf("%d peers seen, want %d", len(seenBy), peers)
			}
			for a := range seenBy {
				if !senders[a] {
					t.Fatalf("unknown sender %v", a)
				}
			}
		})
	}
	if _, err := ListenShards("127.0.0.1:0", 0, Options{}); !errors.Is(err, ErrBadShards) {
		t.Fatalf("0 shards: %v", err)
	}
	if _, err := ListenShards("nonsense", 2, Options{}); !errors.Is(err, ErrBadListen) {
		t.Fatalf("bad address: %v", err)
	}
}

// readNow reads what is queued on s without waiting (loopback delivers
// synchronously, so everything sent before is queued).
func readNow(s *Socket, msgs []Message) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.readLocked(msgs, true)
}

// ReadBatchView hands out the datagrams in place: with GRO, views into the
// socket's buffers (each intact and in order however the calls cut the
// coalesced datagrams, and never overwritten by the call that returns
// them); without GRO, the caller's buffers cut to the datagram.
func TestReadBatchView(t *testing.T) {
	for _, gro := range []bool{true, false} {
		t.Run(fmt.Sprintf("gro=%v", gro), func(t *testing.T) {
			tx, rx, s := sendRuns(t, Options{GROBuffers: 2, NoGRO: !gro})
			own := makeMsgs(7, 2048)
			in := make([]Message, 7)
			for got := 0; got < len(s.msgs); {
				copy(in, own) // the caller's buffers, as the pipeline sets them
				n, err := rx.ReadBatchView(in)
				if err != nil {
					t.Fatal(err)
				}
				for i, m := range in[:n] {
					if m.N != len(m.Buf) || m.Addr != tx.LocalAddr() || !slices.Equal(m.Buf, s.msgs[got]) {
						t.Fatalf("datagram %d: %d bytes (view %d) from %v, wrong", got, m.N, len(m.Buf), m.Addr)
					}
					inOwn := &m.Buf[0] == &own[i].Buf[0]
					if inOwn == gro {
						t.Fatalf("datagram %d: in the caller's buffer %v with GRO %v", got, inOwn, gro)
					}
					got++
				}
			}
			if gro && rx.groCoalesce.Load() == 0 {
				t.Fatal("no coalesced datagram received")
			}
		})
	}
}
