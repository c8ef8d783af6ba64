package status

import (
	"os"
	"path/filepath"
	"strings"
)

// DefaultDir is where the daemon's control sockets live.
const DefaultDir = "/run/peercloud"

// DefaultPath is the control socket of the daemon on device ifname:
// DefaultDir/IFNAME.sock in the host's network namespace. Device names are
// unique only within a network namespace while the file system is shared,
// so in any other namespace the namespace's inode number is added
// (DefaultDir/IFNAME@net4026532001.sock; also when pid 1's namespace
// cannot be read): daemons in two namespaces never collide, and a client
// in the same namespace finds its daemon.
func DefaultPath(ifname string) string {
	return filepath.Join(DefaultDir, ifname+nsSuffix(readNS)+".sock")
}

// CandidatePaths are the paths a client in this process's namespace tries
// for ifname, best first: it may not be allowed to see which namespace is
// the host's (pid 1's), so both forms are offered.
func CandidatePaths(ifname string) []string {
	self, _ := readNS("self")
	if id := nsID(self); id != "" {
		return []string{filepath.Join(DefaultDir, ifname+"@net"+id+".sock"), filepath.Join(DefaultDir, ifname+".sock")}
	}
	return []string{filepath.Join(DefaultDir, ifname+".sock")}
}

// NSSuffix is the suffix DefaultPath adds to socket names in this
// process's network namespace ("" in the host's).
func NSSuffix() string { return nsSuffix(readNS) }

func readNS(pid string) (string, error) { return os.Readlink("/proc/" + pid + "/ns/net") }

// nsSuffix is "@net<inode>" unless this process's network namespace is
// known to be pid 1's (then ""); also "" when its own cannot be read.
func nsSuffix(read func(pid string) (string, error)) string {
	self, err := read("self")
	if err != nil {
		return ""
	}
	if init, err := read("1"); err == nil && init == self {
		return ""
	}
	if id := nsID(self); id != "" {
		return "@net" + id
	}
	return ""
}

// nsID extracts the inode number from a link like "net:[4026531840]".
func nsID(link string) string {
	id, ok := strings.CutPrefix(link, "net:[")
	if !ok {
		return ""
	}
	id, ok = strings.CutSuffix(id, "]")
	if !ok || id == "" || strings.Trim(id, "0123456789") != "" {
		return ""
	}
	return id
}
