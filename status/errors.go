package status

import "errors"

// ErrInUse is returned by Listen when another daemon answers on the path.
var ErrInUse = errors.New("status: control socket in use by a running daemon")

// ErrBadRequest is answered to a request that is not valid JSON or names
// an unknown command.
var ErrBadRequest = errors.New("status: bad request")

// ErrDaemon is returned (wrapped) by Query when the daemon answered with
// an error.
var ErrDaemon = errors.New("status: daemon error")
