package tuntest

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/peercloud/peercloud/internal/fdwait"
	"github.com/peercloud/peercloud/tunio"
)

func TestSocketTUN(t *testing.T) {
	s, err := NewSocketTUN("s0", tunio.TUN, 1400)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if reg, err := fdwait.Registered(s.PollFd()); err != nil || reg {
		t.Fatalf("device end in an epoll set (%v)", err)
	}
	b, sizes := bufs(4, 64)
	if n, err := s.ReadNoWait(b, sizes, 8); n != 0 || err != nil {
		t.Fatalf("ReadNoWait with nothing queued = %d, %v", n, err)
	}
	for _, p := range []string{"one", "two"} {
		if err := s.Inject([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.ReadNoWait(b, sizes, 8); n != 2 || err != nil || string(b[0][8:8+sizes[0]]) != "one" || string(b[1][8:8+sizes[1]]) != "two" {
		t.Fatalf("ReadNoWait = %d, %v", n, err)
	}
	if n, err := s.Write([][]byte{[]byte("xxout1"), []byte("xxout2")}, 2); n != 2 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	for _, want := range []string{"out1", "out2"} {
		if p, err := s.Receive(time.Second); err != nil || string(p) != want {
			t.Fatalf("Receive = %q, %v; want %q", p, err, want)
		}
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		s.Inject([]byte("three"))
	}()
	if n, err := s.Read(b, sizes, 0); n != 1 || err != nil || string(b[0][:sizes[0]]) != "three" {
		t.Fatalf("Read = %d, %v", n, err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Read(b, sizes, 0)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end Read")
	}
	if _, err := s.Write([][]byte{[]byte("x")}, 0); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}
