package sidecar

import (
	"fmt"
	"strings"

	"github.com/weft-mesh/weft/internal/proxy/authz"
)

// ExplainedAuthz is the inbound authorization decision on an explained
// request, from the table the inbound listeners enforce now.
type ExplainedAuthz struct {
	// Peer is the caller's SPIFFE ID the request was explained as ("": a
	// plaintext caller).
	Peer string `json:"peer,omitempty"`
	// Port is the inbound port the request was explained as arriving on.
	Port int `json:"port,omitempty"`
	// Decision is "allow" or "deny".
	Decision string `json:"decision"`
	// Policy is the rule that decided, NAMESPACE/POLICY/rules[N], or
	// "none" when no ALLOW rule matched; "" when no policy applies.
	Policy string `json:"policy,omitempty"`
	// Action is the action of the filter that decided (ALLOW or DENY).
	Action string `json:"action,omitempty"`
	// Reason says the decision in words.
	Reason string `json:"reason"`
	// MTLS is the inbound port's mTLS mode now (STRICT, PERMISSIVE; ""
	// without an identity: plaintext), and MTLSSource who set it:
	// controlPlane (the Service's spec.mtls.mode, which wins) or bootstrap
	// (inbound[].mtls).
	MTLS       string `json:"mtls,omitempty"`
	MTLSSource string `json:"mtlsSource,omitempty"`
}

// explainInbound answers an inbound request: the authorization decision of
// the first inbound listener, then forwarding to the local app.
func (s *Sidecar) explainInbound(req ExplainRequest) (Explanation, error) {
	r, hs, err := parseExplain(req)
	if err != nil {
		return Explanation{}, err
	}
	if req.Peer != "" && !strings.HasPrefix(req.Peer, "spiffe://") {
		return Explanation{}, fmt.Errorf("explain: peer %q: must be a spiffe:// ID", req.Peer)
	}
	e := Explanation{Request: r}
	e.Matched = -1
	a := s.active.Load()
	if a == nil || len(a.cfg.Inbound) == 0 {
		return e, fmt.Errorf("explain: this sidecar has no inbound listener")
	}
	e.Node = a.cfg.Node
	in := a.cfg.Inbound[0]
	st := s.inbound[in.Name].h1.Load()
	if st == nil {
		return e, fmt.Errorf("explain: inbound listener %s has no state yet", in.Name)
	}
	e.Version = st.Version
	if d := s.dyn.Load(); d != nil {
		e.Version = "xds-" + d.Version
	}
	ar := authz.Request{Peer: req.Peer, Method: []byte(r.Method), Host: []byte(r.Host), Path: []byte(r.Path), ParamlessPath: authz.StripParams(nil, []byte(r.Path)), Port: uint32(req.Port), Headers: hs}
	d := st.Authz.Evaluate(&ar)
	x := &ExplainedAuthz{Peer: req.Peer, Port: req.Port, Decision: "allow", Policy: d.Policy}
	switch {
	case st.Authz.Empty():
		x.Reason = "no AuthorizationPolicy applies to this sidecar's service: every request is allowed"
	case !d.Allowed && d.Policy == authz.NoPolicy:
		x.Decision, x.Action = "deny", d.Action.String()
		x.Reason = "ALLOW policies apply and none of their rules matches: 403 RBAC"
	case !d.Allowed:
		x.Decision, x.Action = "deny", d.Action.String()
		x.Reason = "DENY rule " + d.Policy + " matches: 403 RBAC"
	case d.Policy != "":
		x.Action = d.Action.String()
		x.Reason = "ALLOW rule " + d.Policy + " matches and no DENY rule does"
	default:
		x.Reason = "no DENY rule matches and no ALLOW policy applies"
	}
	x.MTLS, x.MTLSSource = s.mtlsMode(in.Name)
	e.Authz = x
	if x.MTLS == MTLSStrict && req.Peer == "" {
		e.Notes = append(e.Notes, "inbound mTLS is STRICT ("+x.MTLSSource+"): a plaintext caller is refused at the connection, before any request")
	}
	if d.Allowed {
		e.Notes = append(e.Notes, "allowed requests go to the local app at "+in.App)
	}
	return e, nil
}
