package xdstest

import (
	"fmt"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/weft-mesh/weft/internal/proxy/retry"
)

// retryFromXDS maps a RetryPolicy onto the proxy's retry.Policy: the
// oracle of the sidecar's decoder, without its validation.
func retryFromXDS(p *routev3.RetryPolicy) (*retry.Policy, error) {
	out := &retry.Policy{Attempts: 1, AnyMethod: len(p.GetRetriableRequestHeaders()) == 0}
	for _, w := range strings.Split(p.GetRetryOn(), ",") {
		switch w = strings.TrimSpace(w); {
		case w == "":
		case w == "refused-stream":
			out.On |= retry.Reset
		case retry.Names[w] != 0:
			out.On |= retry.Names[w]
		default:
			return nil, fmt.Errorf("retry_on %q is not supported", w)
		}
	}
	if n := p.GetNumRetries(); n != nil {
		out.Attempts = int(n.GetValue())
	}
	out.PerTryTimeout = p.GetPerTryTimeout().AsDuration()
	for _, c := range p.GetRetriableStatusCodes() {
		out.StatusCodes = append(out.StatusCodes, uint16(c))
	}
	if b := p.GetRetryBackOff(); b != nil {
		out.BackoffBase, out.BackoffMax = b.GetBaseInterval().AsDuration(), b.GetMaxInterval().AsDuration()
	}
	if rl := p.GetRateLimitedRetryBackOff(); rl != nil {
		out.RetryAfterMax = rl.GetMaxInterval().AsDuration()
		if rl.GetMaxInterval() == nil {
			out.RetryAfterMax = 300 * time.Second
		}
	}
	return out, nil
}

// budgetFromXDS reads a retry budget with Linkerd's meaning (see
// retry.BudgetConfig).
func budgetFromXDS(b *clusterv3.CircuitBreakers_Thresholds_RetryBudget) retry.BudgetConfig {
	var c retry.BudgetConfig
	if p := b.GetBudgetPercent(); p != nil {
		c.Percent = p.GetValue()
		if c.Percent == 0 {
			c.Percent = -1
		}
	}
	if m := b.GetMinRetryConcurrency(); m != nil {
		c.MinPerSecond = int(m.GetValue())
		if c.MinPerSecond == 0 {
			c.MinPerSecond = -1
		}
	}
	c.Window = b.GetBudgetInterval().AsDuration()
	return c
}
