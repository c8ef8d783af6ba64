package stats

import "errors"

// ErrNoSource is returned by NewReporter when the Source has no Peers or
// Data function.
var ErrNoSource = errors.New("stats: incomplete source")

// ErrNoAddress is returned (wrapped) when the statsd server name resolves
// to no address.
var ErrNoAddress = errors.New("stats: statsd server has no address")
