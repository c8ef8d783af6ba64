package udpio

import (
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peercloud/peercloud/internal/fdwait"
)

// TestWaitInKernel: a socket taken out of Go's poller is in no epoll set,
// its no-wait reads return nothing when nothing is queued and each
// datagram once it is, PollFd reports readiness, a blocking read still
// blocks and gets the next datagram, writes work, and Close ends a
// blocked read.
func TestWaitInKernel(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		a := listen(t, "127.0.0.1:0", o)
		b := listen(t, "127.0.0.1:0", o)
		if err := b.WaitInKernel(); err != nil {
			t.Fatal(err)
		}
		if err := b.WaitInKernel(); err != nil {
			t.Fatalf("second WaitInKernel: %v", err)
		}
		fd := b.PollFd()
		if reg, err := fdwait.Registered(fd); err != nil || reg {
			t.Fatalf("fd %d still in an epoll set (%v)", fd, err)
		}
		msgs := makeMsgs(8, 2048)
		if n, err := b.ReadBatchNoWait(msgs); n != 0 || err != nil {
			t.Fatalf("ReadBatchNoWait on an empty socket = %d, %v", n, err)
		}
		if n, err := b.ReadBatchViewNoWait(msgs); n != 0 || err != nil {
			t.Fatalf("ReadBatchViewNoWait on an empty socket = %d, %v", n, err)
		}
		if err := fdwait.Wait(fd, unix.POLLIN, 20*time.Millisecond); !errors.Is(err, fdwait.ErrTimeout) {
			t.Fatalf("poll on an empty socket: %v", err)
		}

		const count = 5
		sendBatch(t, a, b.LocalAddr(), count)
		var got []Message
		for len(got) < count {
			if err := fdwait.Wait(fd, unix.POLLIN, 5*time.Second); err != nil {
				t.Fatalf("poll with %d of %d read: %v", len(got), count, err)
			}
			n, err := b.ReadBatchNoWait(msgs)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs[:n] {
				got = append(got, Message{Buf: append([]byte(nil), m.Buf[:m.N]...), N: m.N, Addr: m.Addr})
			}
		}
		checkBatch(t, got, a.LocalAddr())

		sendBatch(t, a, b.LocalAddr(), 1)
		if err := fdwait.Wait(fd, unix.POLLIN, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if n, err := b.ReadBatchViewNoWait(msgs); n != 1 || err != nil || string(msgs[0].Buf) != "msg 0" {
			t.Fatalf("ReadBatchViewNoWait = %d, %v, %q", n, err, msgs[0].Buf)
		}

		// A blocking read waits in the kernel for the next datagram.
		done := make(chan error, 1)
		go func() {
			in := makeMsgs(4, 2048)
			n, err := b.ReadBatch(in)
			if err == nil && (n != 1 || string(in[0].Buf[:in[0].N]) != "msg 0") {
				err = errors.New("wrong datagram")
			}
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		sendBatch(t, a, b.LocalAddr(), 1)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("blocking ReadBatch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("blocking ReadBatch got nothing")
		}

		sendBatch(t, b, a.LocalAddr(), 3)
		checkBatch(t, readAll(t, a, 3), b.LocalAddr())

		go func() {
			_, err := b.ReadBatch(makeMsgs(4, 64))
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("ReadBatch after Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end a read waiting in the kernel")
		}
		if fd := b.PollFd(); fd != -1 {
			t.Fatalf("PollFd after Close = %d, want -1", fd)
		}
	})
}

// TestNoWaitReadAllocations: sending a batch and reading it back without
// waiting allocates nothing.
func TestNoWaitReadAllocations(t *testing.T) {
	forModes(t, func(t *testing.T, o Options) {
		a := listen(t, "127.0.0.1:0", o)
		b := listen(t, "127.0.0.1:0", o)
		if err := b.WaitInKernel(); err != nil {
			t.Fatal(err)
		}
		const batch = 16
		out := makeMsgs(batch, 200)
		for i := range out {
			out[i].N, out[i].Addr = 200, b.LocalAddr()
		}
		in := makeMsgs(batch, 2048)
		fd := b.PollFd()
		allocs := testing.AllocsPerRun(50, func() {
			if n, err := a.WriteBatch(out); err != nil || n != batch {
				t.Fatalf("WriteBatch = %d, %v", n, err)
			}
			for got := 0; got < batch; {
				if err := fdwait.Wait(fd, unix.POLLIN, 5*time.Second); err != nil {
					t.Fatal(err)
				}
				n, err := b.ReadBatchViewNoWait(in)
				if err != nil {
					t.Fatal(err)
				}
				got += n
			}
		})
		if allocs != 0 {
			t.Fatalf("%.1f allocations per batch, want 0", allocs)
		}
	})
}
