package client

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// codeUnknown is gRPC's UNKNOWN, for a grpc-status that is not a number.
const codeUnknown = 2

// codeNames are gRPC's status codes, for log lines a person can read.
var codeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
	"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
	"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
	"Internal", "Unavailable", "DataLoss", "Unauthenticated",
}

// statusError is the non-OK gRPC status a server ended a stream with.
type statusError struct {
	code    int
	message string
}

func (e *statusError) Error() string {
	name := fmt.Sprintf("Code(%d)", e.code)
	if e.code >= 0 && e.code < len(codeNames) {
		name = codeNames[e.code]
	}
	return fmt.Sprintf("grpc status %s: %s", name, e.message)
}

// streamStatus is the error a stream's end carries, read from h: the
// trailers, or the headers of a trailers-only response. It is nil when h
// holds no grpc-status; status OK is errStreamOK, since an ADS stream that
// ends is a reason to reconnect whatever its status.
func streamStatus(h http.Header) error {
	v := h.Get("Grpc-Status")
	if v == "" {
		return nil
	}
	code, err := strconv.Atoi(v)
	switch {
	case err != nil || code < 0:
		return &statusError{code: codeUnknown, message: fmt.Sprintf("malformed grpc-status %q", v)}
	case code == 0:
		return errStreamOK
	}
	return &statusError{code: code, message: percentDecode(h.Get("Grpc-Message"))}
}

// percentDecode undoes grpc-message's encoding: bytes outside printable
// ASCII, and '%', are sent as %XX. A '%' not followed by two hex digits is
// kept as it is, as gRPC's own decoders do; invalid UTF-8 is replaced, so
// the message is safe to log.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
