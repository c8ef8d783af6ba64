package tunio

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Type
	}{{"tun", TUN}, {"TUN", TUN}, {"tap", TAP}, {"Tap", TAP}} {
		got, err := ParseType(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != strings.ToLower(tc.in) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	for _, bad := range []string{"", "tunx", "eth"} {
		if _, err := ParseType(bad); !errors.Is(err, ErrUnknownType) {
			t.Errorf("ParseType(%q) err = %v, want ErrUnknownType", bad, err)
		}
	}
	if s := Type(9).String(); s != "Type(9)" {
		t.Errorf("Type(9).String() = %q", s)
	}
}

func TestOverheadMatchesVpnCloud(t *testing.T) {
	// VpnCloud 2.3.0 get_overhead = 40 + 8 + 8 + 16 + 1 (+14 for TAP).
	if got := Overhead(TUN); got != 25 {
		t.Errorf("Overhead(TUN) = %d, want 25", got)
	}
	if got := Overhead(TAP); got != 39 {
		t.Errorf("Overhead(TAP) = %d, want 39", got)
	}
}

func TestMTUFor(t *testing.T) {
	for _, tc := range []struct {
		under    int
		ipv6     bool
		overhead int
		want     int
	}{
		{1500, true, Overhead(TUN), 1427}, // VpnCloud's TUN MTU on Ethernet
		{1500, true, Overhead(TAP), 1413}, // VpnCloud's TAP MTU on Ethernet
		{1500, false, Overhead(TUN), 1447},
		{9000, true, Overhead(TUN), 8927},
		{1280, true, Overhead(TAP), 1193},
		{100, true, Overhead(TUN), 68}, // clamped to the IPv4 minimum
		{0, false, 0, 68},
	} {
		if got := MTUFor(tc.under, tc.ipv6, tc.overhead); got != tc.want {
			t.Errorf("MTUFor(%d, %v, %d) = %d, want %d", tc.under, tc.ipv6, tc.overhead, got, tc.want)
		}
	}
}

func TestRunHookEnvironment(t *testing.T) {
	out, err := RunHook(context.Background(), `echo "$IFNAME $EVENT"; echo err >&2`, []string{"IFNAME=vpn7", "EVENT=device_setup"})
	if err != nil {
		t.Fatalf("RunHook: %v", err)
	}
	if got := string(out); got != "vpn7 device_setup\nerr\n" {
		t.Errorf("output = %q", got)
	}
}

func TestRunHookInheritsEnvironmentAndLaterWins(t *testing.T) {
	t.Setenv("PEERCLOUD_HOOK_TEST", "inherited")
	out, err := RunHook(context.Background(), `echo "$PEERCLOUD_HOOK_TEST $X"`, []string{"X=1", "X=2"})
	if err != nil {
		t.Fatalf("RunHook: %v", err)
	}
	if got := string(out); got != "inherited 2\n" {
		t.Errorf("output = %q", got)
	}
}

func TestRunHookSideEffect(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ifup")
	if _, err := RunHook(context.Background(), `printf %s "$IFNAME" > "$OUT"`, []string{"IFNAME=tun3", "OUT=" + f}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f)
	if err != nil || string(b) != "tun3" {
		t.Fatalf("hook wrote %q, %v", b, err)
	}
}

func TestRunHookExitStatus(t *testing.T) {
	out, err := RunHook(context.Background(), "echo failing; exit 3", nil)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("err = %v, want exit status 3", err)
	}
	if string(out) != "failing\n" {
		t.Errorf("output = %q", out)
	}
}

func TestRunHookEmpty(t *testing.T) {
	if _, err := RunHook(context.Background(), "", nil); !errors.Is(err, ErrEmptyHook) {
		t.Fatalf("err = %v, want ErrEmptyHook", err)
	}
}

func TestRunHookContextCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := RunHook(ctx, "exec sleep 30", nil)
	if err == nil {
		t.Fatal("want error from killed hook")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

func TestRunHookOutputBounded(t *testing.T) {
	out, err := RunHook(context.Background(), "head -c 200000 /dev/zero", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != maxHookOutput {
		t.Fatalf("kept %d bytes, want %d", len(out), maxHookOutput)
	}
}
