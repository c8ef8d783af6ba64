package handshake

import (
	"time"

	"github.com/peercloud/peercloud/aead"
)

// SpeedTestDuration is how long VpnCloud benchmarks each algorithm at start.
const SpeedTestDuration = 100 * time.Millisecond

// MeasureAlgorithms benchmarks each algorithm for d (SpeedTestDuration when
// d <= 0) with aead.MeasureSpeed, as VpnCloud does at start, and returns the
// list for Config.Algorithms. Plain entries are dropped (plain is announced
// through Config.AllowPlain).
func MeasureAlgorithms(algs []aead.Algorithm, d time.Duration) []AlgoSpeed {
	if d <= 0 {
		d = SpeedTestDuration
	}
	out := make([]AlgoSpeed, 0, len(algs))
	for _, a := range algs {
		if a == aead.Plain {
			continue
		}
		out = append(out, AlgoSpeed{Alg: a, Speed: aead.MeasureSpeed(a, d)})
	}
	return out
}

// SelectAlgorithm is VpnCloud's algorithm choice: plain when both sides
// allow it; otherwise, for each of our algorithms that the peer also lists
// (its first entry for that id), the lower of the two speeds, and the
// highest of those wins (on a tie, the earlier in our list). ok is false
// when there is no common algorithm (a fatal handshake error).
func SelectAlgorithm(own []AlgoSpeed, ownPlain bool, peer []AlgoSpeed, peerPlain bool) (alg aead.Algorithm, ok bool) {
	if ownPlain && peerPlain {
		return aead.Plain, true
	}
	var best AlgoSpeed
	found := false
	for _, a := range own {
		for _, p := range peer {
			if p.Alg != a.Alg {
				continue
			}
			s := p.Speed
			if a.Speed < p.Speed {
				s = a.Speed
			}
			// Rust max_by keeps the current maximum unless it is strictly
			// less than the candidate (NaN never replaces, never wins over).
			if !found || best.Speed < s {
				best, found = AlgoSpeed{a.Alg, s}, true
			}
			break
		}
	}
	return best.Alg, found
}
