package lean

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

func isLimit(err error) bool { return errors.Is(err, ErrLimit) }
