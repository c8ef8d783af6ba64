package service

import "errors"

// Sentinel errors of the package; returned errors wrap them with %w.
var (
	// ErrNoSuchUser is returned when --user or --group names nobody.
	ErrNoSuchUser = errors.New("no such user or group")
	// ErrPrivDrop is returned when the credentials could not be changed.
	ErrPrivDrop = errors.New("dropping privileges failed")
	// ErrDaemon is returned when the detached child could not be started or
	// did not become ready.
	ErrDaemon = errors.New("daemonizing failed")
	// ErrRPFilter is returned when an rp_filter value is unreadable or
	// cannot be written.
	ErrRPFilter = errors.New("rp_filter")
	// ErrClosed is returned by a PrivThread that was closed.
	ErrClosed = errors.New("privileged thread closed")
)
