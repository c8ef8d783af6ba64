//go:build !purego

package vgcm

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestSupportedMatchesCPUInfo: the package runs wherever the kernel
// lists the five features it needs, with or without AVX-512 (a virtual
// machine that hides AVX-512 once left it unused: x/sys/cpu reports VAES
// only with AVX-512).
func TestSupportedMatchesCPUInfo(t *testing.T) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			for _, f := range strings.Fields(v) {
				flags[f] = true
			}
			break // the first processor's
		}
	}
	if len(flags) == 0 {
		t.Fatal("no flags line in /proc/cpuinfo")
	}
	want := flags["avx2"] && flags["aes"] && flags["pclmulqdq"] && flags["vaes"] && flags["vpclmulqdq"]
	if Supported() != want {
		t.Fatalf("Supported() = %v, /proc/cpuinfo says %v (avx2 %v aes %v pclmulqdq %v vaes %v vpclmulqdq %v, avx512f %v)",
			Supported(), want, flags["avx2"], flags["aes"], flags["pclmulqdq"], flags["vaes"], flags["vpclmulqdq"], flags["avx512f"])
	}
	if cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ && !hasVAES256() {
		t.Fatal("x/sys/cpu reports VAES and VPCLMULQDQ, hasVAES256 does not")
	}
	t.Logf("supported %v, avx512f %v", Supported(), flags["avx512f"])
}
