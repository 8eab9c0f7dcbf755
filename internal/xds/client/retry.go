package client

import (
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/weft-mesh/weft/internal/proxy/retry"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// idempotentMethods is the retriable_request_headers regex on :method
// that translate emits to retry idempotent requests only (its
// IdempotentMethods, duplicated so translate is not linked).
const idempotentMethods = "GET|HEAD|OPTIONS|TRACE|PUT|DELETE"

// maxRetryCodes caps retriable_status_codes.
const maxRetryCodes = 64

// retryToProxy checks Envoy's rules on a RetryPolicy, and Weft's limits,
// then maps it as xdstest.ToProxy does.
func retryToProxy(p *envoypb.RouteRetryPolicy) (*retry.Policy, error) {
	out := &retry.Policy{Attempts: 1} // Envoy's default num_retries
	if err := capped("retry_on", p.GetRetryOn(), maxName); err != nil {
		return nil, err
	}
	for _, w := range strings.Split(p.GetRetryOn(), ",") {
		w = strings.TrimSpace(w)
		switch on, ok := retry.Names[w]; {
		case w == "":
		case ok:
			out.On |= on
		case w == "refused-stream":
			out.On |= retry.Reset // a refused stream was never processed
		default:
			return nil, unsupported("retry_on", "condition %q", w)
		}
	}
	if n := p.GetNumRetries(); n != nil {
		if n.GetValue() > retry.MaxAttempts {
			return nil, stricter("num_retries", "%d is over %d", n.GetValue(), retry.MaxAttempts)
		}
		out.Attempts = int(n.GetValue())
	}
	var err error
	if out.PerTryTimeout, err = optDuration("per_try_timeout", p.GetPerTryTimeout()); err != nil {
		return nil, err
	}
	switch {
	case p.GetPerTryIdleTimeout() != nil:
		return nil, unsupported("per_try_idle_timeout", "")
	case p.GetRetryPriority() != nil || len(p.GetRetryHostPredicate()) > 0:
		return nil, unsupported("retry_host_predicate", "retry priority and host predicates (retries already prefer another host)")
	case p.GetHostSelectionRetryMaxAttempts() != 0:
		return nil, unsupported("host_selection_retry_max_attempts", "")
	case len(p.GetRetriableHeaders()) > 0:
		return nil, unsupported("retriable_headers", "")
	case len(p.GetRetriableStatusCodes()) > maxRetryCodes:
		return nil, overLimit("retriable_status_codes", maxRetryCodes)
	}
	for i, c := range p.GetRetriableStatusCodes() {
		if c < 100 || c > 599 {
			return nil, stricter(fmt.Sprintf("retriable_status_codes[%d]", i), "%d is not an HTTP status", c)
		}
		out.StatusCodes = append(out.StatusCodes, uint16(c))
	}
	if b := p.GetRetryBackOff(); b != nil {
		if out.BackoffBase, err = optDuration("retry_back_off.base_interval", b.GetBaseInterval()); err != nil {
			return nil, err
		}
		if out.BackoffMax, err = optDuration("retry_back_off.max_interval", b.GetMaxInterval()); err != nil {
			return nil, err
		}
		if out.BackoffBase <= 0 {
			return nil, invalid("retry_back_off.base_interval", "is required and must be above 0")
		}
		if out.BackoffMax > 0 && out.BackoffMax < out.BackoffBase {
			return nil, stricter("retry_back_off.max_interval", "must be at least base_interval")
		}
	}
	if rl := p.GetRateLimitedRetryBackOff(); rl != nil {
		hs := rl.GetResetHeaders()
		if len(hs) == 0 {
			return nil, invalid("rate_limited_retry_back_off.reset_headers", "at least one is required")
		}
		if len(hs) > 1 || !strings.EqualFold(hs[0].GetName(), "retry-after") || hs[0].GetFormat() != envoypb.RouteRetryPolicy_SECONDS {
			return nil, unsupported("rate_limited_retry_back_off.reset_headers", "only retry-after in SECONDS")
		}
		if out.RetryAfterMax, err = optDuration("rate_limited_retry_back_off.max_interval", rl.GetMaxInterval()); err != nil {
			return nil, err
		}
		if out.RetryAfterMax == 0 {
			out.RetryAfterMax = 300 * time.Second // Envoy's default
		}
	}
	switch hs := p.GetRetriableRequestHeaders(); {
	case len(hs) == 0:
		out.AnyMethod = true // Envoy retries every method unless told
	case len(hs) == 1 && hs[0].GetName() == ":method" && !hs[0].GetInvertMatch() &&
		hs[0].GetStringMatch().GetSafeRegex().GetRegex() == idempotentMethods && !hs[0].GetStringMatch().GetIgnoreCase():
	default:
		return nil, unsupported("retriable_request_headers", "only the :method matcher %q", idempotentMethods)
	}
	return out, nil
}

// optDuration validates an optional, non-negative duration.
func optDuration(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if d.CheckValid() != nil || d.AsDuration() < 0 || d.AsDuration() > 365*24*time.Hour {
		return 0, invalid(field, "must be a valid duration, 0 or more")
	}
	return d.AsDuration(), nil
}

// budgetToProxy reads a retry budget: Envoy's fields, with Linkerd's
// meaning (see retry.BudgetConfig): budget_percent of the requests over
// budget_interval, plus min_retry_concurrency retries per second.
func budgetToProxy(b *envoypb.CircuitBreakers_Thresholds_RetryBudget) (retry.BudgetConfig, error) {
	var c retry.BudgetConfig
	if p := b.GetBudgetPercent(); p != nil {
		v := p.GetValue()
		if math.IsNaN(v) || v < 0 || v > 100 {
			return c, invalid("retry_budget.budget_percent", "must be 0..100")
		}
		c.Percent = v
		if v == 0 {
			c.Percent = -1 // no share of the requests: only the floor
		}
	}
	if m := b.GetMinRetryConcurrency(); m != nil {
		if m.GetValue() > 100000 {
			return c, stricter("retry_budget.min_retry_concurrency", "%d is over 100000", m.GetValue())
		}
		c.MinPerSecond = int(m.GetValue())
		if m.GetValue() == 0 {
			c.MinPerSecond = -1
		}
	}
	var err error
	if c.Window, err = optDuration("retry_budget.budget_interval", b.GetBudgetInterval()); err != nil {
		return c, err
	}
	return c, nil
}
