package client

import (
	"errors"
	"fmt"
)

// The kinds of decode failure. Every error the decoders return wraps one of
// them, so callers and tests can tell a corrupt push from a config Weft
// refuses.
var (
	// ErrMalformed: the bytes are not valid protobuf for the message.
	ErrMalformed = errors.New("malformed protobuf")
	// ErrInvalid: a field breaks a rule Envoy's validation enforces.
	ErrInvalid = errors.New("invalid")
	// ErrUnsupported: a feature Weft cannot honour. Envoy would accept it;
	// Weft NACKs rather than apply it half.
	ErrUnsupported = errors.New("not supported by weft")
	// ErrLimit: a count or length over the caps in limits.go.
	ErrLimit = errors.New("over limit")
)

// Why a stream to the control plane ended, other than a gRPC status
// (statusError) or a network error. Each ends only the stream: the client
// reconnects and keeps serving the last accepted config.
var (
	// errMessageTooLarge: a message over Config.MaxMessageBytes.
	errMessageTooLarge = errors.New("message over the size limit")
	// errCompressed: a message flagged compressed, though the client
	// offers no compression.
	errCompressed = errors.New("compressed message; none was offered")
	// errStreamOK: the server ended the stream with status OK. An ADS
	// stream never ends by design, so this too is a reason to reconnect.
	errStreamOK = errors.New("server ended the stream with status OK")
	// errNoStatus: the response ended without a grpc-status.
	errNoStatus = errors.New("stream ended without grpc-status")
	// errNotGRPC: the response is not gRPC (HTTP status, content-type).
	errNotGRPC = errors.New("response is not grpc")
	// errNoH2: a TLS server that did not agree to HTTP/2.
	errNoH2 = errors.New("server did not negotiate h2")
	// errSendTimeout: the server took no message within the send timeout.
	errSendTimeout = errors.New("server took no message within the send timeout")
)

// errBeyondPGV marks invalid values that Envoy rejects in code rather than
// in its field rules, and that client.ToProxy would pass on to the proxy
// (which fails later, or worse, routes wrongly). It wraps ErrInvalid; the
// differential fuzz tests use it to tell deliberate strictness from a bug.
var errBeyondPGV = fmt.Errorf("%w (beyond envoy field rules)", ErrInvalid)

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", field, ErrInvalid, fmt.Sprintf(format, args...))
}

func stricter(field, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", field, errBeyondPGV, fmt.Sprintf(format, args...))
}

func unsupported(field, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", field, ErrUnsupported, fmt.Sprintf(format, args...))
}

func overLimit(field string, limit int) error {
	return fmt.Errorf("%s: %w: more than %d", field, ErrLimit, limit)
}
