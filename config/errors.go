package config

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (test with errors.Is) inside an *Error that names the key.
var (
	// ErrSyntax: the file is not well-formed YAML.
	ErrSyntax = errors.New("not valid YAML")
	// ErrUnknownKey: a key that VpnCloud 2.3 (and peercloud) does not know.
	ErrUnknownKey = errors.New("unknown key")
	// ErrDuplicateKey: a key given twice in one mapping.
	ErrDuplicateKey = errors.New("key given twice")
	// ErrWrongType: a value of the wrong YAML kind (a list where a string
	// belongs, text where a number belongs, ...).
	ErrWrongType = errors.New("wrong type")
	// ErrInvalidValue: a value of the right kind that is impossible
	// (unknown mode, malformed address, key of the wrong length, ...).
	ErrInvalidValue = errors.New("invalid value")
	// ErrMissing: a required setting is absent (password or private key).
	ErrMissing = errors.New("missing setting")
	// ErrConflict: two settings that cannot be combined.
	ErrConflict = errors.New("conflicting settings")
)

// Error is a configuration error that names the offending key: its full
// dotted name (e.g. "crypto.trusted-keys[1]"), where it came from (a line of
// the config file, a command-line flag, or nowhere when it is a default) and
// what is wrong with it.
type Error struct {
	// Key is the full dotted name, e.g. "beacon.interval" or "peers[2]".
	Key string
	// Line is the 1-based line in the config file, 0 when not from a file.
	Line int
	// Flag is the command-line flag the value came from ("--listen"), or "".
	Flag string
	// Msg says what is wrong, for a human.
	Msg string
	// Err is one of the sentinel errors of this package.
	Err error
}

func (e *Error) Error() string {
	s := "config: "
	if e.Line > 0 {
		s += fmt.Sprintf("line %d: ", e.Line)
	}
	if e.Key != "" {
		s += e.Key
		if e.Flag != "" {
			s += " (flag " + e.Flag + ")"
		}
		s += ": "
	} else if e.Flag != "" {
		s += e.Flag + ": "
	}
	return s + e.Msg
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }
