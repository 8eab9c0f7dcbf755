package translate

import (
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/internal/mesh"
)

// IdempotentMethods is the retriable_request_headers regex on :method that
// limits retries to idempotent requests; the sidecar recognises exactly
// this matcher (and no matcher: every method).
const IdempotentMethods = "GET|HEAD|OPTIONS|TRACE|PUT|DELETE"

// Retry defaults of a Service or rule that configures retries.
const (
	defaultAttempts      = 2
	defaultRetryOn       = "connect-failure,reset,gateway-error"
	defaultRetryAfterMax = time.Second
)

// retryPolicy merges the Service's retries with a rule's retry and
// per-try timeout (rule may be nil: the Service's default route). It is
// nil when neither configures anything, leaving the sidecar's default (a
// connect failure retried once on another instance).
func retryPolicy(pol *mesh.TrafficPolicy, rule *mesh.HTTPRouteRule) *routev3.RetryPolicy {
	var svc *mesh.Retries
	if pol != nil {
		svc = pol.Spec.Retries
	}
	var rr *mesh.HTTPRouteRetry
	var perTry string
	if rule != nil {
		rr = rule.Retry
		if rule.Timeouts != nil {
			perTry = rule.Timeouts.BackendRequest
		}
	}
	if svc == nil && rr == nil {
		if perTry == "" {
			return nil
		}
		// Only a per-try timeout: keep the default retry with it.
		return &routev3.RetryPolicy{RetryOn: "connect-failure", NumRetries: wrapperspb.UInt32(1), PerTryTimeout: dur(perTry)}
	}
	if svc == nil {
		svc = &mesh.Retries{}
	}
	if rr == nil {
		rr = &mesh.HTTPRouteRetry{}
	}
	p := &routev3.RetryPolicy{NumRetries: wrapperspb.UInt32(defaultAttempts)}
	if svc.Attempts != nil {
		p.NumRetries = wrapperspb.UInt32(uint32(*svc.Attempts))
	}
	if rr.Attempts != nil {
		p.NumRetries = wrapperspb.UInt32(uint32(*rr.Attempts))
	}
	on := svc.RetryOn
	if len(on) == 0 {
		on = strings.Split(defaultRetryOn, ",")
	}
	codes := svc.Codes
	if len(rr.Codes) > 0 {
		// The rule's codes replace the status conditions.
		var kept []string
		for _, c := range on {
			if c != "5xx" && c != "gateway-error" && c != "retriable-status-codes" {
				kept = append(kept, c)
			}
		}
		on, codes = append(kept, "connect-failure", "reset"), rr.Codes
	}
	if len(codes) > 0 {
		on = append(on, "retriable-status-codes")
		for _, c := range codes {
			p.RetriableStatusCodes = append(p.RetriableStatusCodes, uint32(c))
		}
	}
	p.RetryOn = strings.Join(dedupe(on), ",")
	if perTry == "" {
		perTry = svc.PerTryTimeout
	}
	p.PerTryTimeout = dur(perTry)
	base := rr.Backoff
	if base == "" {
		base = svc.Backoff
	}
	if base != "" || svc.MaxBackoff != "" {
		p.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: dur(base), MaxInterval: dur(svc.MaxBackoff)}
		if p.RetryBackOff.BaseInterval == nil {
			p.RetryBackOff.BaseInterval = durationpb.New(25 * time.Millisecond)
		}
	}
	after := defaultRetryAfterMax
	if svc.RetryAfterMax != "" {
		after, _ = time.ParseDuration(svc.RetryAfterMax)
	}
	if after > 0 {
		p.RateLimitedRetryBackOff = &routev3.RetryPolicy_RateLimitedRetryBackOff{
			ResetHeaders: []*routev3.RetryPolicy_ResetHeader{{Name: "retry-after", Format: routev3.RetryPolicy_SECONDS}},
			MaxInterval:  durationpb.New(after),
		}
	}
	if !svc.RetryNonIdempotent {
		p.RetriableRequestHeaders = []*routev3.HeaderMatcher{{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
			StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: IdempotentMethods}}},
		}}}
	}
	return p
}

// retryBudget maps the Service's budget onto Envoy's closest field. Envoy
// caps concurrent retries at budget_percent of active requests (with
// min_retry_concurrency as a floor); Weft's sidecar reads the same fields
// as Linkerd's budget: retries over budget_interval (default 10s) at most
// budget_percent of the requests plus min_retry_concurrency per second.
func retryBudget(pol *mesh.TrafficPolicy) *clusterv3.CircuitBreakers_Thresholds_RetryBudget {
	if pol == nil || pol.Spec.Retries == nil {
		return nil
	}
	r := pol.Spec.Retries
	if r.BudgetPercent == 0 && r.MinRetriesPerSecond == nil {
		return nil
	}
	b := &clusterv3.CircuitBreakers_Thresholds_RetryBudget{}
	if r.BudgetPercent > 0 {
		b.BudgetPercent = &typev3.Percent{Value: float64(r.BudgetPercent)}
	}
	if r.MinRetriesPerSecond != nil {
		b.MinRetryConcurrency = wrapperspb.UInt32(uint32(*r.MinRetriesPerSecond))
	}
	return b
}

func dur(s string) *durationpb.Duration {
	d, err := time.ParseDuration(s)
	if s == "" || err != nil {
		return nil
	}
	return durationpb.New(d)
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
