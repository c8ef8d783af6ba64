package tunio_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peercloud/peercloud/internal/fdwait"
	"github.com/peercloud/peercloud/tunio"
	"github.com/peercloud/peercloud/tunio/tuntest"
)

// TestRootWaitInKernel: queue 0 of a real multi-queue device, taken out
// of Go's poller, is in no epoll set; a no-wait read returns nothing when
// nothing is queued and the kernel's packet once PollFd is readable; a
// blocking read still waits for the next one; writes reach the kernel;
// the other queue keeps working through the poller; Close ends a read
// waiting in the kernel. With offloads on and off.
func TestRootWaitInKernel(t *testing.T) {
	for _, tc := range offloadModes {
		t.Run(tc.name, func(t *testing.T) {
			dev, sock := deviceWithSocket(t, tunio.Options{MultiQueue: 2, DisableOffloads: tc.disable}, "10.94.0.1/24", net.IPv4(10, 94, 0, 1))
			// Every packet to queue 0, so that the test knows where to look.
			if err := dev.SteerSmall(1 << 16); err != nil {
				t.Fatal(err)
			}
			if err := dev.WaitInKernel(); err != nil {
				t.Fatal(err)
			}
			fd := dev.PollFd()
			if reg, err := fdwait.Registered(fd); err != nil || reg {
				t.Fatalf("queue 0's fd %d still in an epoll set (%v)", fd, err)
			}
			const off = 16
			bufs, sizes := [][]byte{make([]byte, 2048), make([]byte, 2048)}, []int{0, 0}
			drain := func() {
				for {
					n, err := dev.ReadNoWait(bufs, sizes, off)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						return
					}
				}
			}
			drain() // router solicitations and the like
			if n, err := dev.ReadNoWait(bufs, sizes, off); n != 0 || err != nil {
				t.Fatalf("ReadNoWait with nothing queued = %d, %v", n, err)
			}
			local := sock.LocalAddr().(*net.UDPAddr).AddrPort()
			peer := netip.MustParseAddrPort("10.94.0.2:9999")
			isOurs := func(p []byte, payload string) bool {
				_, d, pl, ok := tuntest.ParseUDPPacket(p)
				return ok && d == peer && string(pl) == payload
			}

			if _, err := sock.WriteToUDPAddrPort([]byte("one"), peer); err != nil {
				t.Fatal(err)
			}
			found := false
			for deadline := time.Now().Add(5 * time.Second); !found && time.Now().Before(deadline); {
				if err := fdwait.Wait(fd, unix.POLLIN, time.Second); err != nil && !errors.Is(err, fdwait.ErrTimeout) {
					t.Fatal(err)
				}
				n, err := dev.ReadNoWait(bufs, sizes, off)
				if err != nil {
					t.Fatal(err)
				}
				for i := range n {
					found = found || isOurs(bufs[i][off:off+sizes[i]], "one")
				}
			}
			if !found {
				t.Fatal("no-wait reads never returned the kernel's packet")
			}

			// A blocking read on the queue waits in the kernel.
			go func() {
				time.Sleep(20 * time.Millisecond)
				sock.WriteToUDPAddrPort([]byte("two"), peer)
			}()
			pkt := readMatching(t, dev, func(p []byte) bool { return isOurs(p, "two") })
			if s, _, _, _ := tuntest.ParseUDPPacket(pkt); s != local {
				t.Fatalf("packet from %v, want %v", s, local)
			}

			// Writes reach the kernel, through queue 0 and through queue 1.
			for i, q := range []tunio.Device{dev, dev.Queues()[1]} {
				p := tuntest.UDPPacket(peer, local, []byte("reply"))
				if n, err := q.Write([][]byte{p}, 0); n != 1 || err != nil {
					t.Fatalf("queue %d: Write = %d, %v", i, n, err)
				}
				sock.SetReadDeadline(time.Now().Add(5 * time.Second))
				b := make([]byte, 64)
				if n, from, err := sock.ReadFromUDPAddrPort(b); err != nil || string(b[:n]) != "reply" || from != peer {
					t.Fatalf("queue %d: kernel got %q from %v (%v)", i, b[:n], from, err)
				}
			}

			checkCloseEndsRead(t, dev) // a read waiting in the kernel
			if fd := dev.PollFd(); fd != -1 {
				t.Fatalf("PollFd after Close = %d", fd)
			}
		})
	}
}
