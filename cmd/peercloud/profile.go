package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile to the file named by the environment
// variable PEERCLOUD_CPUPROFILE until the returned function is called: a
// tool for performance work (go tool pprof bin/peercloud FILE), off unless
// asked for.
func startProfile(getenv func(string) string) func() {
	path := getenv("PEERCLOUD_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "peercloud: cpu profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "peercloud: cpu profile: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
