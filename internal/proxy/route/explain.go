package route

import (
	"fmt"
	"strconv"
	"strings"
)

// Explanation says how a Table routes one request: which virtual host
// serves its host and, rule by rule, whether each matched and the first
// condition that did not. `weft explain` renders it.
type Explanation struct {
	// VirtualHost is the name of the virtual host serving the host, ""
	// when none does (the proxy answers 404).
	VirtualHost string `json:"virtualHost"`
	// Domain is the table entry that selected it: the host itself, a
	// "*.suffix" wildcard or "*".
	Domain string `json:"domain,omitempty"`
	// Rules are the virtual host's rules in the order the proxy tries them.
	Rules []RuleTrace `json:"rules,omitempty"`
	// Matched indexes Rules: the rule the proxy uses, -1 for none.
	Matched int `json:"matched"`
	// Route is the matched rule, nil when none matched.
	Route *Route `json:"-"`
}

// Rule outcomes, in the words `weft explain` prints.
const (
	OutcomeMatch      = "match"
	OutcomeNoMatch    = "no match"
	OutcomeNotReached = "not reached"
)

// RuleTrace is one rule's part in an Explanation.
type RuleTrace struct {
	Name string `json:"name,omitempty"`
	// Conditions are the rule's match conditions, rendered ("path prefix
	// /api", "header x-user = beta"); none means every request matches.
	Conditions []string `json:"conditions,omitempty"`
	// Outcome is OutcomeMatch, OutcomeNoMatch, or OutcomeNotReached for
	// rules after the first match (first match wins).
	Outcome string `json:"outcome"`
	// Reason names the first condition that failed, with what the request
	// had; for a rule not reached, whether it would have matched.
	Reason string `json:"reason,omitempty"`
}

// Explain traces how Lookup routes a request; it takes the same normalised
// arguments. Whether each rule matches is decided by the code Lookup runs,
// so the two cannot disagree; only the reason is worked out here. It
// allocates, and is for the admin endpoint, never the request path.
func (t *Table) Explain(host, method, path, query []byte, h Headers) Explanation {
	e := Explanation{Matched: -1}
	vh := t.vhostFor(host)
	if vh == nil {
		return e
	}
	e.VirtualHost, e.Domain = vh.name, t.domainFor(host, vh)
	for i := range vh.routes {
		c := &vh.routes[i]
		rt := RuleTrace{Name: c.route.Name, Conditions: c.conditions()}
		ok := c.matches(method, path, query, h)
		switch {
		case e.Matched >= 0:
			rt.Outcome = OutcomeNotReached
			rt.Reason = fmt.Sprintf("rule %d matched first", e.Matched)
			if ok {
				rt.Reason += " (this one would match too)"
			}
		case ok:
			rt.Outcome = OutcomeMatch
			e.Matched, e.Route = i, c.route
		default:
			rt.Outcome = OutcomeNoMatch
			rt.Reason = c.mismatch(method, path, query, h)
		}
		e.Rules = append(e.Rules, rt)
	}
	return e
}

// domainFor names the entry vhostFor used, in the order it tries them.
func (t *Table) domainFor(host []byte, vh *vhost) string {
	if t.exact[string(host)] == vh {
		return string(host)
	}
	for _, w := range t.wildcards {
		if w.vh == vh && len(host) > len(w.suffix) && strings.HasSuffix(string(host), w.suffix) {
			return "*" + w.suffix
		}
	}
	return "*"
}

// mismatch names the first condition c.matches rejects, in its order.
func (c *compiled) mismatch(method, path, query []byte, h Headers) string {
	if c.method != "" && string(method) != c.method {
		return fmt.Sprintf("method: want %s, request is %s", c.method, method)
	}
	var pathOK bool
	switch c.path.Kind {
	case PathExact:
		pathOK = c.path.Value == "" || string(path) == c.path.Value
	case PathRegex:
		pathOK = c.pathRE.Match(path)
	default:
		pathOK = prefixMatch(path, c.path.Value)
	}
	if !pathOK {
		return fmt.Sprintf("path: want %s, request path is %s", pathCondition(c.path), path)
	}
	for i := range c.headers {
		kv := &c.headers[i]
		v, ok := h.Get(kv.name)
		if kv.match(v, ok) == kv.invert {
			return "header " + kv.name + ": want " + kv.describe() + ", request " + had(v, ok)
		}
	}
	for i := range c.query {
		kv := &c.query[i]
		v, ok := queryValue(query, kv.name)
		if !kv.match(v, ok) {
			return "query " + kv.name + ": want " + kv.describe() + ", request " + had(v, ok)
		}
	}
	// matches said no, yet no condition above fails: matches gained a
	// condition this explanation does not know yet.
	return "a condition this version of explain cannot name"
}

func had(v []byte, ok bool) string {
	if !ok {
		return "has none"
	}
	return "has " + strconv.Quote(string(v))
}

// conditions renders c's match, in the order matches checks it.
func (c *compiled) conditions() []string {
	var out []string
	if c.method != "" {
		out = append(out, "method "+c.method)
	}
	if !(c.path.Kind == PathPrefix && (c.path.Value == "" || c.path.Value == "/")) {
		out = append(out, "path "+pathCondition(c.path))
	}
	for i := range c.headers {
		out = append(out, "header "+c.headers[i].name+" "+c.headers[i].describe())
	}
	for i := range c.query {
		out = append(out, "query "+c.query[i].name+" "+c.query[i].describe())
	}
	return out
}

func pathCondition(p PathMatch) string {
	switch p.Kind {
	case PathExact:
		return "exactly " + p.Value
	case PathRegex:
		return "matching regex " + strconv.Quote(p.Value)
	}
	v := p.Value
	if v == "" {
		v = "/"
	}
	return "prefix " + v
}

func (kv *compiledKV) describe() string {
	var s string
	switch kv.kind {
	case MatchPresent:
		s = "present"
	case MatchRegex:
		s = "matching regex " + strconv.Quote(kv.value)
	default:
		s = "= " + strconv.Quote(kv.value)
	}
	if kv.invert {
		return "not " + s
	}
	return s
}

// Share is one backend's expected fraction of a route's requests.
type Share struct {
	Cluster string `json:"cluster"`
	Weight  uint32 `json:"weight"`
	// Percent is the share PickBackend gives it, 0..100.
	Percent float64 `json:"percent"`
}

// Shares lists r's backends with the fraction of requests PickBackend
// sends to each.
func (r *Route) Shares() []Share {
	out := make([]Share, len(r.Backends))
	var total uint64
	for _, b := range r.Backends {
		total += uint64(b.Weight)
	}
	for i, b := range r.Backends {
		out[i] = Share{Cluster: b.Cluster, Weight: b.Weight}
		switch {
		case total > 0:
			out[i].Percent = 100 * float64(b.Weight) / float64(total)
		case i == 0:
			out[i].Percent = 100 // PickBackend's choice when no weight is set
		}
	}
	return out
}
