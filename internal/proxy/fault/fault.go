// Package fault is the fault-injection filter: it delays or aborts a share
// of a route's requests, for chaos testing, decided per request from a
// random draw the caller supplies (the connection's cheap generator).
package fault

import "time"

// Million is the denominator of every share: shares are parts per million.
const Million = 1_000_000

// Config is one route's faults. Delay and abort are drawn independently; a
// request may be delayed and then aborted.
type Config struct {
	// Delay is how long a delayed request waits before it goes on; 0 means
	// no delay fault.
	Delay time.Duration
	// DelayShare is the share of requests delayed, parts per million.
	DelayShare uint32
	// AbortHTTP is the status an aborted request gets, 200..599; 0 when the
	// abort gives a gRPC status instead or there is no abort fault.
	AbortHTTP int
	// AbortGRPC is the gRPC status (1..16) an aborted gRPC request gets; a
	// request that is not gRPC gets the HTTP status gRPC maps it to.
	AbortGRPC int
	// AbortShare is the share of requests aborted, parts per million.
	AbortShare uint32
}

// HasAbort reports whether c aborts anything.
func (c *Config) HasAbort() bool {
	return c.AbortShare > 0 && (c.AbortHTTP != 0 || c.AbortGRPC != 0)
}

// HasDelay reports whether c delays anything.
func (c *Config) HasDelay() bool { return c.DelayShare > 0 && c.Delay > 0 }

// Decision is what one request gets.
type Decision struct {
	Delay time.Duration // 0: none
	Abort bool
}

// Decide draws the request's faults from r, 64 random bits: the low half
// decides the delay and the high half the abort, so the two are
// independent.
func (c *Config) Decide(r uint64) Decision {
	var d Decision
	if c.HasDelay() && hit(uint32(r), c.DelayShare) {
		d.Delay = c.Delay
	}
	if c.HasAbort() && hit(uint32(r>>32), c.AbortShare) {
		d.Abort = true
	}
	return d
}

// hit maps 32 random bits onto [0, Million) by multiplication (no modulo
// bias worth the name) and compares with share.
func hit(bits, share uint32) bool {
	return uint32(uint64(bits)*Million>>32) < share
}

// Status is the HTTP status an abort answers with: AbortHTTP, or for a
// request that is not gRPC, AbortGRPC's HTTP equivalent.
func (c *Config) Status() int {
	if c.AbortHTTP != 0 {
		return c.AbortHTTP
	}
	return HTTPForGRPC(c.AbortGRPC)
}

// HTTPForGRPC maps a gRPC status code to the HTTP status of the same
// meaning (Google's API design guide's table); unknown codes give 500.
func HTTPForGRPC(code int) int {
	switch code {
	case 0:
		return 200
	case 1:
		return 499
	case 3, 9, 11:
		return 400
	case 4:
		return 504
	case 5:
		return 404
	case 6, 10:
		return 409
	case 7:
		return 403
	case 8:
		return 429
	case 12:
		return 501
	case 14:
		return 503
	case 16:
		return 401
	}
	return 500
}
