package retry

// Outcome classifies one finished try.
type Outcome uint8

// The outcomes of a try.
const (
	OK          Outcome = iota // a response the policy does not retry
	Connect                    // no connection: nothing was sent
	ResetBefore                // the connection broke before a response began
	TryTimeout                 // the per-try timeout fired before the response began
	Status                     // a response whose status or grpc-status the policy retries
)

// Reason names the outcome in metrics (weft_proxy_retries_total's reason).
func (o Outcome) Reason() string {
	switch o {
	case Connect:
		return "connect-failure"
	case ResetBefore:
		return "reset"
	case TryTimeout:
		return "per-try-timeout"
	case Status:
		return "status"
	}
	return "none"
}

// Failure classifies a try that ended without a response.
func (p *Policy) Failure(o Outcome) bool {
	switch o {
	case Connect:
		return p.On&(ConnectFailure|FiveXX|GatewayError|Reset) != 0
	case ResetBefore:
		return p.On&(Reset|FiveXX|GatewayError) != 0
	case TryTimeout:
		return p.On&(FiveXX|GatewayError|PerTryTimeout) != 0
	}
	return false
}

// RetriesStatus reports whether a response with this HTTP status, and
// grpc-status (-1 when none), is retried.
func (p *Policy) RetriesStatus(code, grpcStatus int) bool {
	switch {
	case code >= 500 && p.On&FiveXX != 0:
		return true
	case (code == 502 || code == 503 || code == 504) && p.On&GatewayError != 0:
		return true
	}
	if p.On&RetriableStatusCodes != 0 {
		for _, c := range p.StatusCodes {
			if int(c) == code {
				return true
			}
		}
	}
	switch grpcStatus {
	case 1:
		return p.On&GRPCCancelled != 0
	case 4:
		return p.On&GRPCDeadlineExceeded != 0
	case 8:
		return p.On&GRPCResourceExhausted != 0
	case 14:
		return p.On&GRPCUnavailable != 0
	}
	return false
}

// ParseRetryAfter reads a Retry-After value in delta-seconds; HTTP dates
// are not honoured (clocks differ between hosts). ok is false when the
// value is absent or not a small decimal number.
func ParseRetryAfter(v []byte) (seconds int, ok bool) {
	if len(v) == 0 || len(v) > 6 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		seconds = seconds*10 + int(c-'0')
	}
	return seconds, true
}
