package hooks

import "errors"

// ErrFailed is returned (wrapped) when a hook script exits unsuccessfully.
var ErrFailed = errors.New("hook script failed")

// ErrTimeout is returned (wrapped) when a hook script ran past its timeout
// and was killed.
var ErrTimeout = errors.New("hook script timed out")
