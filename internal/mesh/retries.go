package mesh

import (
	"slices"
	"time"
)

// Retries sets how requests to a Service are retried: the defaults of
// every route to it (the rules of HTTPRoutes whose parentRef it is, and
// its default route), which a rule's retry overrides field by field, and
// the Service's retry budget. Durations like "25ms".
type Retries struct {
	// Attempts is the most retries after the first try, 0..10. Default 2.
	Attempts *int32 `json:"attempts,omitempty"`
	// PerTryTimeout bounds each try, from sending it to the response
	// head, up to 24h; a rule's timeouts.backendRequest overrides it.
	// Default none: only the request timeout bounds the tries.
	PerTryTimeout string `json:"perTryTimeout,omitempty"`
	// RetryOn lists the failures retried: connect-failure, reset (the
	// connection broke before a response), 5xx, gateway-error (502, 503,
	// 504, and connect failures and resets), retriable-status-codes (the
	// codes below), and the gRPC statuses cancelled, deadline-exceeded,
	// resource-exhausted and unavailable. Default connect-failure, reset,
	// gateway-error.
	RetryOn []string `json:"retryOn,omitempty"`
	// Codes are HTTP statuses (400..599) retried besides RetryOn's.
	// Optional.
	Codes []int32 `json:"codes,omitempty"`
	// Backoff is the base of the exponential backoff between tries,
	// 1ms..10s: retry n waits a random time below backoff × 2^n (full
	// jitter), capped by maxBackoff. Default 25ms.
	Backoff string `json:"backoff,omitempty"`
	// MaxBackoff caps the wait between tries, at least backoff, up to
	// 24h. Default 10 × backoff (250ms).
	MaxBackoff string `json:"maxBackoff,omitempty"`
	// RetryAfterMax bounds how long a retried response's Retry-After
	// (delta-seconds) is honoured as the wait before the next try; a
	// longer Retry-After ends the retries and the response is returned.
	// Up to 24h. Default 1s.
	RetryAfterMax string `json:"retryAfterMax,omitempty"`
	// RetryNonIdempotent retries every method. Default false: a request
	// that was sent is retried only when its method is idempotent (GET,
	// HEAD, OPTIONS, TRACE, PUT, DELETE); a connect failure, which sent
	// nothing, is retried whatever the method. Bodies over 64 KiB, or of
	// unknown length over HTTP/1.1, are never resent.
	RetryNonIdempotent bool `json:"retryNonIdempotent,omitempty"`
	// BudgetPercent caps the Service's retries at this percentage of
	// its requests over the last 10 s, 1..100. Default 20.
	BudgetPercent int32 `json:"budgetPercent,omitempty"`
	// MinRetriesPerSecond lets this many retries per second through
	// whatever the request volume, 0..1000. Default 10.
	MinRetriesPerSecond *int32 `json:"minRetriesPerSecond,omitempty"`
}

// HTTPRouteRetry is Gateway API's HTTPRouteRetry (GEP-1731).
type HTTPRouteRetry struct {
	// Codes are the HTTP statuses (400..599) retried; when set they
	// replace the status conditions of the Service's retries (connect
	// failures and resets are still retried). Default the Service's
	// retries, else 502, 503 and 504.
	Codes []int32 `json:"codes,omitempty"`
	// Attempts is the most retries after the first try, 0..10. Default
	// the Service's retries.attempts, else 2.
	Attempts *int32 `json:"attempts,omitempty"`
	// Backoff is the base wait between tries, 1ms..10s (see
	// Retries.Backoff). Default the Service's, else 25ms.
	Backoff string `json:"backoff,omitempty"`
}

// RetryConditions are the words Retries.RetryOn accepts (Envoy's).
var RetryConditions = []string{"connect-failure", "reset", "5xx", "gateway-error", "retriable-status-codes",
	"cancelled", "deadline-exceeded", "resource-exhausted", "unavailable"}

func validateRetries(v *errs, path string, r *Retries) {
	checkAttempts(v, path+".attempts", r.Attempts)
	checkDuration(v, path+".perTryTimeout", r.PerTryTimeout)
	for i, c := range r.RetryOn {
		if !slices.Contains(RetryConditions, c) {
			v.add(field(path+".retryOn", i), "must be one of %v; got %q", RetryConditions, c)
		}
	}
	checkCodes(v, path+".codes", r.Codes)
	checkBackoff(v, path+".backoff", r.Backoff)
	checkDuration(v, path+".maxBackoff", r.MaxBackoff)
	if b, err := time.ParseDuration(r.Backoff); err == nil {
		if m, err := time.ParseDuration(r.MaxBackoff); err == nil && m < b {
			v.add(path+".maxBackoff", "must be at least backoff (%s); got %s", r.Backoff, r.MaxBackoff)
		}
	}
	if r.RetryAfterMax != "" && r.RetryAfterMax != "0s" {
		checkDuration(v, path+".retryAfterMax", r.RetryAfterMax)
	}
	if r.BudgetPercent < 0 || r.BudgetPercent > 100 {
		v.add(path+".budgetPercent", "must be 1..100; got %d", r.BudgetPercent)
	}
	if m := r.MinRetriesPerSecond; m != nil && (*m < 0 || *m > 1000) {
		v.add(path+".minRetriesPerSecond", "must be 0..1000; got %d", *m)
	}
}

func validateRouteRetry(v *errs, path string, r *HTTPRouteRetry) {
	checkAttempts(v, path+".attempts", r.Attempts)
	checkCodes(v, path+".codes", r.Codes)
	checkBackoff(v, path+".backoff", r.Backoff)
}

func checkAttempts(v *errs, path string, n *int32) {
	if n != nil && (*n < 0 || *n > 10) {
		v.add(path, "must be 0..10; got %d", *n)
	}
}

func checkCodes(v *errs, path string, codes []int32) {
	if len(codes) > 50 {
		v.add(path, "at most 50 codes")
	}
	for i, c := range codes {
		if c < 400 || c > 599 {
			v.add(field(path, i), "must be an HTTP status 400..599; got %d", c)
		}
	}
}

func checkBackoff(v *errs, path, s string) {
	if s == "" {
		return
	}
	if d, err := time.ParseDuration(s); err != nil || d < time.Millisecond || d > 10*time.Second {
		v.add(path, "must be a duration 1ms..10s; got %q", s)
	}
}
