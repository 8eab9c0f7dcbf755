package retry

import (
	"encoding/json"
	"sort"
)

// Strings names the conditions in o with Envoy's retry_on words, sorted.
func (o On) Strings() []string {
	var out []string
	for name, bit := range Names {
		if o&bit != 0 {
			out = append(out, name)
		}
	}
	if o&PerTryTimeout != 0 {
		out = append(out, "per-try-timeout")
	}
	sort.Strings(out)
	return out
}

// MarshalJSON writes the policy in the words of its config (Envoy's
// retry_on names, durations as Go durations), for /config and weft
// explain, rather than as a bit mask and nanoseconds.
func (p *Policy) MarshalJSON() ([]byte, error) {
	base, ceiling := p.Backoff()
	v := struct {
		RetryOn       []string `json:"retryOn"`
		Attempts      int      `json:"attempts"`
		PerTryTimeout string   `json:"perTryTimeout,omitempty"`
		StatusCodes   []uint16 `json:"statusCodes,omitempty"`
		Backoff       string   `json:"backoff"`
		MaxBackoff    string   `json:"maxBackoff"`
		RetryAfterMax string   `json:"retryAfterMax,omitempty"`
		AnyMethod     bool     `json:"retryNonIdempotent"`
	}{RetryOn: p.On.Strings(), Attempts: p.Attempts, StatusCodes: p.StatusCodes,
		Backoff: base.String(), MaxBackoff: ceiling.String(), AnyMethod: p.AnyMethod}
	if p.PerTryTimeout > 0 {
		v.PerTryTimeout = p.PerTryTimeout.String()
	}
	if p.RetryAfterMax > 0 {
		v.RetryAfterMax = p.RetryAfterMax.String()
	}
	return json.Marshal(v)
}
