package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

var nsSeq atomic.Int32

// NewNetns creates a fresh, empty network namespace named after prefix
// that is deleted when the test ends, even on failure. Root only: it skips
// the test otherwise.
func NewNetns(t *testing.T, prefix string) netns.NsHandle {
	t.Helper()
	RequireRoot(t)
	name := fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// InNetns runs f on an OS thread switched into ns. Sockets, devices and
// netlink handles f creates live in ns; goroutines f starts do not.
func InNetns(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get netns: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("set netns: %v", err)
	}
	defer func() {
		// On failure to switch back the thread stays locked and dies
		// with the goroutine instead of serving others in the wrong ns.
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	f()
}
