package metrics

import "errors"

// ErrNoSource is returned by New when the Source has no Peers or Data
// function.
var ErrNoSource = errors.New("metrics: incomplete source")
