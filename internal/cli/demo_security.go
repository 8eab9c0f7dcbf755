//go:build !proxyonly

package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The security steps: every sidecar already has a SPIFFE identity (weft run
// got each one a join token) and sidecars talk mTLS; then an
// AuthorizationPolicy lets only the frontend call ratings, and a caller
// that is not the frontend is denied.

// ratingsPolicyYAML allows only the frontend's identity to call ratings.
const ratingsPolicyYAML = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: ratings-frontend-only}
spec:
  targetRef: {name: ratings}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["spiffe://weft.local/ns/default/sa/frontend"]}}]
`

func securitySteps() []demoStep {
	return []demoStep{
		{name: "mtls", title: "Identities and mTLS: who is calling whom, proved", weight: 1,
			act: func(ctx context.Context, d *demoRun) error {
				d.say("Each sidecar got an X.509 SVID from the control plane's CA (a join token, then its key's CSR);")
				d.say("calls between sidecars are mutual TLS, and the callee's app is told its caller in X-Forwarded-Client-Cert.")
				return nil
			},
			report: func(ctx context.Context, d *demoRun, s stepStats) {
				text := d.frontendMetrics(ctx)
				d.say("frontend's sidecar: %d mTLS handshakes as a client for %d requests it sent (connections are pooled);",
					sumCounter(text, "weft_tls_handshakes_total", `side="client"`), sumCounter(text, "weft_requests_total", `reporter="source"`))
				d.say("its callees count it by identity: source_principal=\"spiffe://weft.local/ns/default/sa/frontend\",")
				d.say("connection_security_policy=\"mutual_tls\" on their weft_requests_total.")
			}},
		{name: "deny", title: "Authorization: only the frontend may call ratings", weight: 1,
			act: func(ctx context.Context, d *demoRun) error {
				return d.applyTo(ctx, "ratings-policy.yaml", ratingsPolicyYAML, []string{"ratings-1"})
			},
			report: func(ctx context.Context, d *demoRun, s stepStats) {
				code, flags := d.callDirect(ctx, "http://ratings/ratings/7")
				d.say("The load generator (identity loadgen) called ratings directly: %d, response flag %s,", code, flags)
				d.say("decided by ratings' own sidecar from the caller's certificate; the frontend's calls to ratings")
				d.say("kept working (%s of pages succeeded). weft explain --inbound shows the rule that decided.",
					pct(100*float64(s.ok)/float64(max(s.requests, 1)), 2))
			}},
	}
}

// frontendMetrics is the frontend sidecar's /metrics text ("" if it did
// not answer).
func (d *demoRun) frontendMetrics(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+d.frontendAdmin+"/metrics", nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return string(b)
}

// callDirect sends one GET through the load generator's sidecar, as a
// client other than the frontend: its status and response flags.
func (d *demoRun) callDirect(ctx context.Context, target string) (int, string) {
	pu, err := url.Parse("http://" + d.loadProxy)
	if err != nil {
		return 0, err.Error()
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Sprintf("(%v)", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, strings.TrimSpace(resp.Header.Get("X-Weft-Response-Flags"))
}
