package mesh

import "time"

// FaultFilter injects faults into the requests a rule matches, for chaos
// testing: a delay, an abort, or both (a request may be delayed and then
// aborted; the two are drawn independently). Set at least one.
type FaultFilter struct {
	// Delay holds a share of requests before they are forwarded.
	// Optional.
	Delay *FaultDelay `json:"delay,omitempty"`
	// Abort answers a share of requests with an error instead of
	// forwarding them. Optional.
	Abort *FaultAbort `json:"abort,omitempty"`
}

// FaultDelay holds requests for a fixed time. The wait counts against the
// rule's request timeout: a delay past it ends in 504.
type FaultDelay struct {
	// FixedDelay is how long a delayed request waits, a duration such as
	// 2s or 200ms, at most 24h. Required.
	FixedDelay string `json:"fixedDelay"`
	// Percent is the share of requests delayed, 0..100. Default 100.
	Percent *int32 `json:"percent,omitempty"`
}

// FaultAbort answers requests with an error made by the mesh. Set exactly
// one of httpStatus and grpcStatus.
type FaultAbort struct {
	// HTTPStatus is the HTTP status of an aborted request, 200..599.
	HTTPStatus int32 `json:"httpStatus,omitempty"`
	// GRPCStatus is the gRPC status code (1..16, e.g. 14 UNAVAILABLE) of
	// an aborted gRPC call, sent as a trailers-only response; a request
	// that is not gRPC gets the HTTP status of the same meaning (14: 503).
	GRPCStatus int32 `json:"grpcStatus,omitempty"`
	// Percent is the share of requests aborted, 0..100. Default 100.
	Percent *int32 `json:"percent,omitempty"`
}

// RateLimit is a local token bucket, kept by each client sidecar (so a
// Service called from N sidecars admits up to N times the rate in all).
// Requests past it get 429 with Retry-After (seconds until a token), and
// gRPC calls UNAVAILABLE; nothing is queued.
type RateLimit struct {
	// RequestsPerSecond is the sustained rate admitted, 1..1000000.
	// Required.
	RequestsPerSecond int32 `json:"requestsPerSecond"`
	// Burst is the most requests admitted at once after a quiet spell (the
	// bucket's size), 1..1000000. Default a tenth of requestsPerSecond,
	// at least 1.
	Burst *int32 `json:"burst,omitempty"`
}

const maxRate = 1_000_000

func defaultFilter(f *HTTPFilter) {
	if ft := f.Fault; ft != nil {
		if ft.Delay != nil && ft.Delay.Percent == nil {
			ft.Delay.Percent = ptr32(100)
		}
		if ft.Abort != nil && ft.Abort.Percent == nil {
			ft.Abort.Percent = ptr32(100)
		}
	}
	defaultRateLimit(f.RateLimit)
}

func defaultRateLimit(rl *RateLimit) {
	if rl != nil && rl.Burst == nil {
		rl.Burst = ptr32(max(1, rl.RequestsPerSecond/10))
	}
}

func ptr32(v int32) *int32 { return &v }

func validateFilters(v *errs, path string, filters []HTTPFilter, matches []HTTPRouteMatch) {
	seen := map[string]bool{}
	for j, f := range filters {
		fp := field(path, j)
		switch f.Type {
		case FilterFault, FilterRateLimit, FilterRequestHeaderModifier, FilterResponseHeaderModifier,
			FilterURLRewrite, FilterRequestRedirect, FilterRequestMirror:
			if seen[f.Type] {
				v.add(fp+".type", "at most one %s filter per rule", f.Type)
			}
			seen[f.Type] = true
		default:
			v.unsupported(fp, "filter %q is not implemented", f.Type)
			continue
		}
		for _, k := range sortedKeys(f.Raw) {
			v.add(fp+"."+k, "unknown field for a filter of type %s", f.Type)
		}
		for _, c := range []struct {
			typ, key string
			set      bool
		}{
			{FilterFault, "fault", f.Fault != nil},
			{FilterRateLimit, "rateLimit", f.RateLimit != nil},
			{FilterRequestHeaderModifier, "requestHeaderModifier", f.RequestHeaderModifier != nil},
			{FilterResponseHeaderModifier, "responseHeaderModifier", f.ResponseHeaderModifier != nil},
			{FilterURLRewrite, "urlRewrite", f.URLRewrite != nil},
			{FilterRequestRedirect, "requestRedirect", f.RequestRedirect != nil},
			{FilterRequestMirror, "requestMirror", f.RequestMirror != nil},
		} {
			if c.set && c.typ != f.Type {
				v.add(fp+"."+c.key, "only for type %s", c.typ)
			}
		}
		switch f.Type {
		case FilterFault:
			validateFault(v, fp+".fault", f.Fault)
		case FilterRateLimit:
			validateRateLimit(v, fp+".rateLimit", f.RateLimit)
		case FilterRequestHeaderModifier:
			validateHeaderModifier(v, fp+".requestHeaderModifier", f.RequestHeaderModifier)
		case FilterResponseHeaderModifier:
			validateHeaderModifier(v, fp+".responseHeaderModifier", f.ResponseHeaderModifier)
		case FilterURLRewrite:
			validateURLRewrite(v, fp+".urlRewrite", f.URLRewrite, matches)
		case FilterRequestRedirect:
			validateRedirect(v, fp+".requestRedirect", f.RequestRedirect, matches)
		case FilterRequestMirror:
			validateMirror(v, fp+".requestMirror", f.RequestMirror)
		}
	}
	if seen[FilterURLRewrite] && seen[FilterRequestRedirect] {
		v.add(path, "a rule takes a URLRewrite or a RequestRedirect filter, not both")
	}
}

func hasFilter(filters []HTTPFilter, typ string) bool {
	for _, f := range filters {
		if f.Type == typ {
			return true
		}
	}
	return false
}

func validateFault(v *errs, path string, f *FaultFilter) {
	if f == nil || f.Delay == nil && f.Abort == nil {
		v.add(path, "a Fault filter needs delay, abort or both")
		return
	}
	if d := f.Delay; d != nil {
		if d.FixedDelay == "" {
			v.add(path+".delay.fixedDelay", "is required")
		}
		checkDuration(v, path+".delay.fixedDelay", d.FixedDelay)
		checkPercent(v, path+".delay.percent", d.Percent)
	}
	if a := f.Abort; a != nil {
		switch {
		case (a.HTTPStatus == 0) == (a.GRPCStatus == 0):
			v.add(path+".abort", "set exactly one of httpStatus and grpcStatus")
		case a.HTTPStatus != 0 && (a.HTTPStatus < 200 || a.HTTPStatus > 599):
			v.add(path+".abort.httpStatus", "must be 200..599; got %d", a.HTTPStatus)
		case a.GRPCStatus != 0 && (a.GRPCStatus < 1 || a.GRPCStatus > 16):
			v.add(path+".abort.grpcStatus", "must be a gRPC status code 1..16; got %d", a.GRPCStatus)
		}
		checkPercent(v, path+".abort.percent", a.Percent)
	}
}

func validateRateLimit(v *errs, path string, rl *RateLimit) {
	if rl == nil {
		v.add(path, "a RateLimit filter needs rateLimit")
		return
	}
	if rl.RequestsPerSecond < 1 || rl.RequestsPerSecond > maxRate {
		v.add(path+".requestsPerSecond", "must be 1..%d; got %d", maxRate, rl.RequestsPerSecond)
	}
	if rl.Burst != nil && (*rl.Burst < 1 || *rl.Burst > maxRate) {
		v.add(path+".burst", "must be 1..%d; got %d", maxRate, *rl.Burst)
	}
}

func checkPercent(v *errs, path string, p *int32) {
	if p != nil && (*p < 0 || *p > 100) {
		v.add(path, "must be 0..100; got %d", *p)
	}
}

// FixedDelayDuration parses a validated FixedDelay.
func (d *FaultDelay) FixedDelayDuration() time.Duration {
	t, _ := time.ParseDuration(d.FixedDelay)
	return t
}
