package service

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeManager is a NOTIFY_SOCKET listener.
func fakeManager(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	out := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(out)
				return
			}
			out <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return out
}

func next(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
		return ""
	}
}

func TestNotifierMessages(t *testing.T) {
	msgs := fakeManager(t)
	n := NewNotifier(nil)
	n.Ready("1 peer, device tun0")
	if got := next(t, msgs); got != "READY=1\nSTATUS=1 peer, device tun0" {
		t.Fatalf("ready: %q", got)
	}
	n.Status("2 peers")
	if got := next(t, msgs); got != "STATUS=2 peers" {
		t.Fatalf("status: %q", got)
	}
	n.Reloading()
	if got := next(t, msgs); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || strings.HasSuffix(got, "=0") {
		t.Fatalf("reloading: %q", got)
	}
	n.Stopping()
	if got := next(t, msgs); !strings.HasPrefix(got, "STOPPING=1\n") {
		t.Fatalf("stopping: %q", got)
	}
}

func TestNotifierWithoutManagerIsQuiet(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n := NewNotifier(nil)
	n.Ready("x")
	n.Stopping()
	done := make(chan struct{})
	go func() { n.Watchdog(context.Background(), func(context.Context) error { return nil }); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Watchdog without WATCHDOG_USEC did not return")
	}
}

func TestWatchdogStopsWhenControlIsStuck(t *testing.T) {
	msgs := fakeManager(t)
	t.Setenv("WATCHDOG_USEC", "100000") // 100 ms: ping every 50 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	var stuck atomic.Bool
	release := make(chan struct{})
	alive := func(ctx context.Context) error {
		if !stuck.Load() {
			return nil
		}
		select { // a control goroutine that does not answer
		case <-ctx.Done():
			return ctx.Err()
		case <-release:
			return errors.New("unreachable")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { NewNotifier(nil).Watchdog(ctx, alive); close(done) }()
	for i := 0; i < 3; i++ {
		if got := next(t, msgs); got != "WATCHDOG=1" {
			t.Fatalf("ping %d: %q", i, got)
		}
	}
	stuck.Store(true)
	time.Sleep(120 * time.Millisecond) // at most one ping was already under way
	for len(msgs) > 0 {
		<-msgs
	}
	select {
	case m := <-msgs:
		t.Fatalf("watchdog pinged while the control loop was stuck: %q", m)
	case <-time.After(400 * time.Millisecond):
	}
	stuck.Store(false)
	if got := next(t, msgs); got != "WATCHDOG=1" {
		t.Fatalf("after recovery: %q", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Watchdog did not return after cancel")
	}
	close(release)
}

func TestWatchdogIgnoresOtherPID(t *testing.T) {
	msgs := fakeManager(t)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	NewNotifier(nil).Watchdog(context.Background(), func(context.Context) error { return nil }) // returns at once
	select {
	case m := <-msgs:
		t.Fatalf("pinged for another pid's watchdog: %q", m)
	case <-time.After(150 * time.Millisecond):
	}
}
