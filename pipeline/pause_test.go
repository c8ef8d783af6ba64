package pipeline

import (
	"testing"
	"time"
)

func TestPSITotal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"some avg10=29.26 avg60=33.78 avg300=27.62 total=16716482699\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", 16716482699},
		{"some avg10=0.00 avg60=0.00 avg300=0.00 total=0", 0},
		{"full avg10=0.00 total=5\nsome total=7\n", 5}, // the first line counts
		{"some avg10=0.00\n", -1},
		{"some total=12x\n", -1},
		{"", -1},
	} {
		if got := psiTotal([]byte(tc.in)); got != tc.want {
			t.Errorf("psiTotal(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestCorePause: the pause sleeps only while the last look (at most one
// per pauseCheck) saw threads wait for a core for at least pauseStall of
// the time since the look before, never when the stall is unknown, and
// at most once per pauseGap.
func TestCorePause(t *testing.T) {
	var now, stall int64
	sleeps := 0
	c := &corePause{
		stall: func() int64 { return stall },
		sleep: func() { sleeps++ },
		now:   func() int64 { return now },
	}
	check, gap := int64(pauseCheck), int64(pauseGap)
	checkUS := int64(pauseCheck / time.Microsecond)
	bound := int64(float64(checkUS) * pauseStall) // stall µs in one check at the bound
	step := func(name string, dt, dstall int64, want int) {
		t.Helper()
		now += dt
		if stall >= 0 && dstall >= 0 {
			stall += dstall
		} else {
			stall = dstall
		}
		sleeps = 0
		c.pause()
		if sleeps != want {
			t.Errorf("%s: %d sleeps, want %d", name, sleeps, want)
		}
	}
	stall = 1000
	step("first look: nothing to compare with", 0, 0, 0)
	step("within the check interval: no new look", check/2, checkUS, 0)
	step("next look: stalled all the time", check/2, 0, 1)
	step("within pauseGap of that pause", gap-1, 0, 0)
	step("pauseGap after it: the decision holds", 1, 0, 1)
	step("next look: just under the bound", check-gap, bound-1, 0)
	step("next look: just over the bound", check, bound+1, 1)
	step("stall unknown", check, -1, 0)
	stall = 5000
	step("known again: first look compares with unknown", check, 0, 0)
	step("then stalled", check, checkUS, 1)
	step("a look after a long quiet: the share of the whole time", 10*check, 2*checkUS, 1)
	step("a look after a long quiet: under the share", 10*check, checkUS/2, 0)
}

// TestCorePauseAllocs: a look at the kernel's stall counter, taken on the
// device writer's path, allocates nothing.
func TestCorePauseAllocs(t *testing.T) {
	c := newCorePause()
	var now int64
	c.now = func() int64 { now += int64(pauseCheck); return now }
	sleeps := 0
	c.sleep = func() { sleeps++ }
	if n := testing.AllocsPerRun(100, c.pause); n != 0 {
		t.Errorf("%v allocations per pause with a look each time, want 0", n)
	}
	if v := c.stall(); v < 0 {
		t.Logf("no /proc/pressure/cpu here (%d): the pause never sleeps", v)
	}
}
