package ca

import "errors"

// Errors callers map to answers: ErrInvalid is the request's fault (400),
// ErrUnauthenticated its credential's (401).
var (
	ErrInvalid         = errors.New("invalid")
	ErrUnauthenticated = errors.New("unauthenticated")
)
