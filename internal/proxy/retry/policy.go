// Package retry decides whether a failed upstream try is tried again: the
// retry policy of a route (conditions, attempts, per-try timeout, backoff,
// Retry-After), the default that applies when a route has none, and the
// per-cluster retry budget that keeps retries from amplifying an outage.
// It holds plain Go values and no I/O; the engines run the tries.
package retry

import (
	"math/bits"
	"time"
)

// On is a set of conditions under which a try is retried.
type On uint16

// The retry-on conditions, named as Envoy's retry_on values.
const (
	// ConnectFailure: the connection to the endpoint could not be made
	// (refused, dial timeout). Nothing was sent, so any method may retry.
	ConnectFailure On = 1 << iota
	// Reset: the upstream closed or reset the connection before a
	// response began (after the request was sent).
	Reset
	// FiveXX: any 5xx response, and everything Reset and ConnectFailure cover.
	FiveXX
	// GatewayError: 502, 503 or 504 responses, plus what ConnectFailure
	// and Reset cover.
	GatewayError
	// RetriableStatusCodes: a status listed in Policy.StatusCodes.
	RetriableStatusCodes
	// GRPCCancelled: grpc-status 1 in a trailers-only response.
	GRPCCancelled
	// GRPCDeadlineExceeded: grpc-status 4.
	GRPCDeadlineExceeded
	// GRPCResourceExhausted: grpc-status 8.
	GRPCResourceExhausted
	// GRPCUnavailable: grpc-status 14.
	GRPCUnavailable
	// PerTryTimeout: a try ran past Policy.PerTryTimeout (Envoy retries
	// those under 5xx and gateway-error too; this bit is implied by them).
	PerTryTimeout
)

// Names maps Envoy's retry_on words onto conditions, for decoders.
var Names = map[string]On{
	"connect-failure":        ConnectFailure,
	"reset":                  Reset,
	"5xx":                    FiveXX,
	"gateway-error":          GatewayError,
	"retriable-status-codes": RetriableStatusCodes,
	"cancelled":              GRPCCancelled,
	"deadline-exceeded":      GRPCDeadlineExceeded,
	"resource-exhausted":     GRPCResourceExhausted,
	"unavailable":            GRPCUnavailable,
}

// Defaults of a configured policy, Envoy's.
const (
	DefaultBackoffBase = 25 * time.Millisecond  // Envoy's base_interval
	DefaultBackoffMax  = 250 * time.Millisecond // 10 × base, as Envoy
	// MaxAttempts caps Policy.Attempts whatever the config says.
	MaxAttempts = 10
	// BodyCap is the largest request body kept to replay on a retry;
	// requests with larger or unknown-length (chunked) bodies are tried
	// once, except on connect failures, which send nothing.
	BodyCap = 64 << 10
)

// Policy is a route's retry policy. The zero value retries nothing; a nil
// *Policy on a route means Default.
type Policy struct {
	// On lists the conditions retried.
	On On
	// Attempts is the most retries after the first try, 0..MaxAttempts.
	Attempts int
	// PerTryTimeout bounds each try, from sending the request to the
	// response head. Zero means only the route's request timeout applies.
	PerTryTimeout time.Duration
	// StatusCodes are retried with RetriableStatusCodes.
	StatusCodes []uint16
	// BackoffBase and BackoffMax shape the fully jittered exponential
	// backoff between tries: try n waits a random time in
	// [0, min(BackoffMax, BackoffBase × 2^n)). Zero means 25 ms and
	// 250 ms (10 × base when only the base is set).
	BackoffBase, BackoffMax time.Duration
	// RetryAfterMax, when above zero, makes a retriable response's
	// Retry-After (delta-seconds) the wait before the next try, if it is
	// at most this long; a longer one ends the retries. Zero ignores
	// Retry-After.
	RetryAfterMax time.Duration
	// AnyMethod retries requests of every method. False retries only
	// idempotent ones (GET, HEAD, OPTIONS, TRACE, PUT, DELETE; RFC 9110
	// §9.2.2), except after a connect failure, which sent nothing.
	AnyMethod bool
}

// Default is the policy of a route that configures none: a connect
// failure is retried once, on another endpoint, and so is an idempotent
// request without a body whose connection broke before any response
// byte (RFC 9110 §9.2.2 allows it); a single-endpoint cluster is not
// retried. The budget still applies.
var Default = &Policy{On: ConnectFailure | Reset, Attempts: 1}

// Backoff returns the base and the cap in effect.
func (p *Policy) Backoff() (base, ceiling time.Duration) {
	base, ceiling = p.BackoffBase, p.BackoffMax
	if base <= 0 {
		base = DefaultBackoffBase
		if ceiling <= 0 {
			ceiling = DefaultBackoffMax
		}
	}
	if ceiling <= 0 {
		ceiling = 10 * base
	}
	return base, max(ceiling, base)
}

// Delay returns the wait before retry n (0 for the first retry), given a
// uniform random value in [0, 1<<63) from the caller.
func (p *Policy) Delay(n int, rnd uint64) time.Duration {
	base, ceiling := p.Backoff()
	limit := ceiling
	if n < 30 && base<<n < ceiling && base<<n > 0 {
		limit = base << n
	}
	hi, _ := bits.Mul64(rnd<<1, uint64(limit)) // limit × rnd / 2^63
	return time.Duration(hi)
}

// Idempotent reports whether a method may be repeated without changing
// the result (RFC 9110 §9.2.2).
func Idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}
