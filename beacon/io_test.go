package beacon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Target
		zero bool
	}{
		{"", Target{}, true},
		{"/var/lib/beacon", Target{Value: "/var/lib/beacon"}, false},
		{"|echo $beacon", Target{Command: true, Value: "echo $beacon"}, false},
		{"|", Target{Command: true}, false},
	} {
		got := ParseTarget(tc.in)
		if got != tc.want || got.IsZero() != tc.zero {
			t.Errorf("ParseTarget(%q) = %+v (zero %v)", tc.in, got, got.IsZero())
		}
	}
}

// VpnCloud's encode_decode_file.
func TestFileRoundTrip(t *testing.T) {
	c := New("mysecretkey")
	path := filepath.Join(t.TempDir(), "beacon")
	if err := c.WriteFile(path, twoPeers, at2000); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "WsHI31EWDMBYxvITiILIrm2k9gEik22E\n" {
		t.Fatalf("file holds %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o444 {
		t.Errorf("mode %v, want 0444 as VpnCloud", fi.Mode().Perm())
	}
	got, err := c.ReadFile(path, at2000, 0)
	if err != nil || !slices.Equal(got, twoPeers) {
		t.Fatalf("ReadFile = %v, %v", got, err)
	}
	// A second store replaces the read-only file; nothing else is left.
	if err := c.WriteFile(path, twoPeers[:1], at2000); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ReadFile(path, at2000, 0); !slices.Equal(got, twoPeers[:1]) {
		t.Fatalf("after rewrite: %v", got)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the beacon", len(ents))
	}
}

func TestFileErrors(t *testing.T) {
	c := New("k")
	dir := t.TempDir()
	if _, err := c.ReadFile(filepath.Join(dir, "missing"), at2000, 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := c.WriteFile(filepath.Join(dir, "no", "such", "dir"), twoPeers, at2000); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("nothing to see here"), 0o600)
	if _, err := c.ReadFile(junk, at2000, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("file without beacon: %v", err)
	}
}

// VpnCloud's encode_decode_cmd: the store command sees $beacon, the load
// command's output is decoded.
func TestCommandRoundTrip(t *testing.T) {
	c := New("mysecretkey")
	dir := t.TempDir()
	file := filepath.Join(dir, "b")
	ctx := context.Background()
	if err := c.StoreCommand(ctx, "echo $beacon > "+file, twoPeers, at2000); err != nil {
		t.Fatal(err)
	}
	got, err := c.LoadCommand(ctx, "cat "+file, at2000, 0)
	if err != nil || !slices.Equal(got, twoPeers) {
		t.Fatalf("LoadCommand = %v, %v", got, err)
	}
	// The parts: $begin$data$end is the beacon; load sees $begin and $end
	// but no $data.
	env := filepath.Join(dir, "env")
	if err := c.StoreCommand(ctx, `printf '%s %s %s %s' "$begin" "$data" "$end" "$beacon" > `+env, twoPeers, at2000); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(env)
	if string(b) != "WsHI3 1EWDMBYxvITiILIrm2k9gE ik22E WsHI31EWDMBYxvITiILIrm2k9gEik22E" {
		t.Errorf("store environment: %q", b)
	}
	// A load command may print only the middle parts around its own
	// markers: $begin and $end are there for it.
	got, err = c.LoadCommand(ctx, `echo "noise ${begin}1EWDMBYxvITiILIrm2k9gE${end}${data}x"`, at2000, 0)
	if err != nil || !slices.Equal(got, twoPeers) {
		t.Fatalf("load with $begin/$end = %v, %v", got, err)
	}
}

func TestCommandFailures(t *testing.T) {
	c := New("k")
	ctx := context.Background()
	err := c.StoreCommand(ctx, "echo boom >&2; exit 3", twoPeers, at2000)
	if !errors.Is(err, ErrCommand) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing store: %v", err)
	}
	if _, err := c.LoadCommand(ctx, "exit 1", at2000, 0); !errors.Is(err, ErrCommand) {
		t.Errorf("failing load: %v", err)
	}
	if _, err := c.LoadCommand(ctx, "echo no beacon", at2000, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("load without beacon: %v", err)
	}
	// A hanging command, and a child holding its pipes, die with the
	// context.
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.LoadCommand(tctx, "sleep 30 & sleep 30", at2000, 0)
	if !errors.Is(err, ErrCommand) {
		t.Errorf("timed-out load: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timed-out command took %v to return", d)
	}
}
