package service

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/peercloud/peercloud/internal/testenv"
)

func TestLookupCredentials(t *testing.T) {
	c, err := LookupCredentials("root", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.UID != 0 || c.GID != 0 || len(c.Groups) == 0 || c.Groups[0] != 0 {
		t.Fatalf("root: %+v", c)
	}
	byID, err := LookupCredentials("0", "0")
	if err != nil {
		t.Fatal(err)
	}
	if byID.UID != 0 || byID.GID != 0 || len(byID.Groups) != 1 {
		t.Fatalf("0:0: %+v", byID)
	}
	g, err := LookupCredentials("", "0")
	if err != nil {
		t.Fatal(err)
	}
	if g.UID != -1 || g.GID != 0 {
		t.Fatalf("group only must keep the user: %+v", g)
	}
	if _, err := LookupCredentials("no-such-user-pc", ""); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := LookupCredentials("", "no-such-group-pc"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("unknown group: %v", err)
	}
}

func TestNilPrivThreadRunsInline(t *testing.T) {
	var pt *PrivThread
	ran := false
	if err := pt.Do(func() { ran = true }); err != nil || !ran {
		t.Fatalf("nil PrivThread: ran=%v err=%v", ran, err)
	}
	pt.Close()
}

// TestDropKeepsNetAdminOnOneThread runs Drop in a child process (it cannot
// be undone) and checks the process credentials and that only the
// privileged thread can still do what needs CAP_NET_ADMIN.
func TestDropKeepsNetAdminOnOneThread(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := LookupCredentials("nobody", ""); err != nil {
		t.Fatal("the root tier needs a user nobody:", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=drop")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, f := range strings.Fields(string(out)) {
		if k, v, ok := strings.Cut(f, "="); ok {
			got[k] = v
		}
	}
	c, _ := LookupCredentials("nobody", "")
	want := map[string]string{
		"uid":        fmt.Sprintf("%d", c.UID),
		"gid":        fmt.Sprintf("%d", c.GID),
		"capeff":     "0000000000000000",
		"capprm":     "0000000000000000",
		"privcapeff": "0000000000001000", // CAP_NET_ADMIN only
		"privcapprm": "0000000000001000",
		"privmark":   "ok",
		"plainmark":  "EPERM",
		"closed":     strings.ReplaceAll(ErrClosed.Error(), " ", "_"),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (output: %s)", k, got[k], v, out)
		}
	}
}

// dropHelper is the child of TestDropKeepsNetAdminOnOneThread.
func dropHelper() int {
	c, err := LookupCredentials("nobody", "")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	pt, err := Drop(c, CapNetAdmin)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	status := func(path string) map[string]string {
		b, _ := os.ReadFile(path)
		m := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				m[k] = strings.Fields(v + " -")[0]
			}
		}
		return m
	}
	mark := func() string {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return "socket"
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, 1); err != nil {
			if errors.Is(err, unix.EPERM) {
				return "EPERM"
			}
			return err.Error()
		}
		return "ok"
	}
	main := status("/proc/self/status")
	var priv map[string]string
	var privMark string
	_ = pt.Do(func() { priv = status("/proc/thread-self/status"); privMark = mark() })
	plain := mark()
	pt.Close()
	closedErr := pt.Do(func() {})
	fmt.Printf("uid=%s gid=%s capeff=%s capprm=%s privcapeff=%s privcapprm=%s privmark=%s plainmark=%s closed=%s\n",
		main["Uid"], main["Gid"], main["CapEff"], main["CapPrm"], priv["CapEff"], priv["CapPrm"], privMark, plain,
		strings.ReplaceAll(fmt.Sprint(closedErr), " ", "_"))
	return 0
}
