//go:build race

package testenv

// RaceEnabled is true when the race detector is on; heavy tests scale down.
const RaceEnabled = true
