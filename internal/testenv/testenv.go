// Package testenv holds helpers shared by the project's tests: which tier a
// test belongs to and what the machine must offer for it to run.
package testenv

import (
	"os"
	"testing"
)

// RequireRoot skips t with a reason unless the test runs as root. Root-tier
// tests (network namespaces, real TUN devices) call it first; `make test` as
// root and CI run them, an unprivileged `go test ./...` skips them.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("root tier: needs root for network namespaces and /dev/net/tun; run `make test` as root")
	}
}

// Short reports whether heavy tests should scale themselves down.
func Short() bool { return testing.Short() || RaceEnabled }
