package handshake

import "errors"

// Sentinel errors. Every parse or protocol failure wraps one of these.
var (
	// ErrBase62 reports a character outside 0-9A-Za-z in a base62 string.
	ErrBase62 = errors.New("invalid base62 character")
	// ErrKeyLength reports a decoded key that is not 32 bytes long.
	ErrKeyLength = errors.New("key must decode to 32 bytes")
	// ErrKeyMismatch reports a public key that does not belong to the private key.
	ErrKeyMismatch = errors.New("public key does not match private key")
	// ErrTruncated reports a message shorter than its structure requires.
	ErrTruncated = errors.New("message truncated")
	// ErrMalformed reports a message whose fields are inconsistent.
	ErrMalformed = errors.New("malformed message")
	// ErrUntrustedKey reports a message signed by no trusted key.
	ErrUntrustedKey = errors.New("message signed by an untrusted key")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("invalid signature")
	// ErrMissingField reports a required handshake field that is absent.
	ErrMissingField = errors.New("required field missing")
	// ErrNoCommonAlgorithm reports that the peers share no algorithm (fatal).
	ErrNoCommonAlgorithm = errors.New("no common crypto algorithm")
	// ErrConnectedToSelf reports a handshake with our own node id (fatal).
	ErrConnectedToSelf = errors.New("connected to self")
	// ErrInvalidState reports a message that does not fit the current state.
	ErrInvalidState = errors.New("invalid handshake state")
	// ErrTimeout reports that the handshake gave up after too many retries.
	ErrTimeout = errors.New("handshake timed out")
	// ErrDecrypt reports a payload that failed to decrypt.
	ErrDecrypt = errors.New("payload decryption failed")
	// ErrRandom reports a failure of the injected random source.
	ErrRandom = errors.New("random source failed")
)

// ErrFatal marks errors that end a handshake (VpnCloud's CryptoInitFatal):
// no common algorithm, connected to self, a payload that does not decrypt,
// a non-ping as first message, timeout. Test with errors.Is(err, ErrFatal).
var ErrFatal = errors.New("fatal handshake error")

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("invalid handshake config")
