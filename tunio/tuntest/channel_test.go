package tuntest

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/peercloud/peercloud/tunio"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func bufs(n, size int) ([][]byte, []int) {
	b := make([][]byte, n)
	for i := range b {
		b[i] = make([]byte, size)
	}
	return b, make([]int, n)
}

func TestChannelTUNIdentity(t *testing.T) {
	c := NewChannelTUN("fake0", tunio.TAP, 1413)
	if c.Name() != "fake0" || c.Type() != tunio.TAP || c.MTU() != 1413 {
		t.Fatalf("identity = %s %v %d", c.Name(), c.Type(), c.MTU())
	}
}

func TestChannelTUNReadBatchWithOffset(t *testing.T) {
	c := NewChannelTUN("fake0", tunio.TUN, 1400)
	defer c.Close()
	c.Inbound <- []byte("one")
	c.Inbound <- []byte("two!")
	c.Inbound <- []byte("three")
	b, sizes := bufs(2, 32)
	n, err := c.Read(b, sizes, 9)
	if err != nil || n != 2 {
		t.Fatalf("Read = %d, %v; want 2", n, err)
	}
	if string(b[0][9:9+sizes[0]]) != "one" || string(b[1][9:9+sizes[1]]) != "two!" {
		t.Fatalf("got %q %q", b[0][9:9+sizes[0]], b[1][9:9+sizes[1]])
	}
	if !bytes.Equal(b[0][:9], make([]byte, 9)) {
		t.Fatal("headroom was written")
	}
	n, err = c.Read(b, sizes, 0)
	if err != nil || n != 1 || string(b[0][:sizes[0]]) != "three" {
		t.Fatalf("second Read = %d, %v, %q", n, err, b[0][:sizes[0]])
	}
}

func TestChannelTUNReadTruncates(t *testing.T) {
	c := NewChannelTUN("fake0", tunio.TUN, 1400)
	defer c.Close()
	c.Inbound <- []byte("0123456789")
	b, sizes := bufs(1, 8)
	n, err := c.Read(b, sizes, 4)
	if err != nil || n != 1 || sizes[0] != 4 || string(b[0][4:]) != "0123" {
		t.Fatalf("Read = %d, %v, size %d, %q", n, err, sizes[0], b[0][4:])
	}
}

func TestChannelTUNReadBadArgs(t *testing.T) {
	c := NewChannelTUN("fake0", tunio.TUN, 1400)
	defer c.Close()
	b, sizes := bufs(2, 8)
	if _, err := c.Read(b, sizes[:1], 0); !errors.Is(err, tunio.ErrBadOffset) {
		t.Errorf("short sizes: %v", err)
	}
	if _, err := c.Read(b, sizes, 9); !errors.Is(err, tunio.ErrBadOffset) {
		t.Errorf("offset past buffer: %v", err)
	}
	if n, err := c.Read(nil, nil, 0); n != 0 || err != nil {
		t.Errorf("empty Read = %d, %v", n, err)
	}
	if _, err := c.Write([][]byte{{1}}, 2); !errors.Is(err, tunio.ErrBadOffset) {
		t.Errorf("write offset past buffer: %v", err)
	}
}

func TestChannelTUNWriteCopies(t *testing.T) {
	c := NewChannelTUN("fake0", tunio.TUN, 1400)
	defer c.Close()
	p := []byte("hdr:payload")
	n, err := c.Write([][]byte{p, []byte("hdr:x")}, 4)
	if err != nil || n != 2 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	copy(p, "XXXXXXXXXXX")
	if got := string(<-c.Outbound); got != "payload" {
		t.Errorf("first = %q", got)
	}
	if got := string(<-c.Outbound); got != "x" {
		t.Errorf("second = %q", got)
	}
}

func TestChannelTUNCloseUnblocksRead(t *testing.T) {
	c := NewChannelTUN("fake0", tunio.TUN, 1400)
	errc := make(chan error)
	go func() {
		b, sizes := bufs(1, 16)
		_, err := c.Read(b, sizes, 0)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	c.Inbound <- []byte("late")
	b, sizes := bufs(1, 16)
	if _, err := c.Read(b, sizes, 0); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read on closed device with queued packet: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestChannelTUNCloseUnblocksWrite(t *testing.T) {
	c := NewChannelTUN("fake0", tunio.TUN, 1400)
	for range cap(c.Outbound) {
		if _, err := c.Write([][]byte{{1}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	type res struct {
		n   int
		err error
	}
	rc := make(chan res)
	go func() {
		n, err := c.Write([][]byte{{2}, {3}}, 0)
		rc <- res{n, err}
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	r := <-rc
	if r.n != 0 || !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("blocked Write after Close = %d, %v", r.n, r.err)
	}
	if _, err := c.Write([][]byte{{4}}, 0); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write on closed device: %v", err)
	}
}
