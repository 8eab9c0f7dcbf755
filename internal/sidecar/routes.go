package sidecar

import (
	"fmt"
	"regexp"
	"time"
)

// RouteSet steers the traffic addressed to one service, like a Gateway API
// HTTPRoute whose parentRef is that Service (GAMMA). Requests that match no
// rule still reach the service itself, as they would with no route at all.
type RouteSet struct {
	Service string `yaml:"service" json:"service"`
	Rules   []Rule `yaml:"rules" json:"rules"`
}

// Rule is one match and its weighted backends. Rules are tried in order.
type Rule struct {
	Name     string        `yaml:"name" json:"name,omitempty"`
	Match    RuleMatch     `yaml:"match" json:"match"`
	Backends []BackendRef  `yaml:"backends" json:"backends"`
	Timeout  time.Duration `yaml:"timeout" json:"timeout,omitempty"` // default limits.requestTimeout
}

// RuleMatch is the conjunction of its set fields. At most one path field.
type RuleMatch struct {
	PathPrefix string    `yaml:"pathPrefix" json:"pathPrefix,omitempty"`
	PathExact  string    `yaml:"pathExact" json:"pathExact,omitempty"`
	PathRegex  string    `yaml:"pathRegex" json:"pathRegex,omitempty"`
	Method     string    `yaml:"method" json:"method,omitempty"`
	Headers    []KVMatch `yaml:"headers" json:"headers,omitempty"`
	Query      []KVMatch `yaml:"query" json:"query,omitempty"`
}

// KVMatch matches a header or query parameter: exactly one of Exact, Regex
// or Present.
type KVMatch struct {
	Name    string `yaml:"name" json:"name"`
	Exact   string `yaml:"exact" json:"exact,omitempty"`
	Regex   string `yaml:"regex" json:"regex,omitempty"`
	Present bool   `yaml:"present" json:"present,omitempty"`
	Invert  bool   `yaml:"invert" json:"invert,omitempty"`
}

// BackendRef is a weighted destination: a service, or one of its subsets.
type BackendRef struct {
	Service string `yaml:"service" json:"service"`
	Subset  string `yaml:"subset" json:"subset,omitempty"`
	Weight  uint32 `yaml:"weight" json:"weight"`
}

// maxRegexLen bounds route regexes; RE2 is linear, but inputs still cost.
const maxRegexLen = 1024

func validateRoutes(fe *fieldErrors, sets []RouteSet, svcs map[string]*Service) {
	parents := map[string]bool{}
	for i, rs := range sets {
		p := fmt.Sprintf("routes[%d]", i)
		if svcs[rs.Service] == nil {
			fe.add(p+".service", "unknown service %q", rs.Service)
		} else if parents[rs.Service] {
			fe.add(p+".service", "service %q already has a route set; merge the rules", rs.Service)
		}
		parents[rs.Service] = true
		for j, r := range rs.Rules {
			rp := fmt.Sprintf("%s.rules[%d]", p, j)
			validateMatch(fe, rp+".match", r.Match)
			if len(r.Backends) == 0 {
				fe.add(rp+".backends", "must name at least one backend")
			}
			var total uint64
			for k, b := range r.Backends {
				bp := fmt.Sprintf("%s.backends[%d]", rp, k)
				s := svcs[b.Service]
				if s == nil {
					fe.add(bp+".service", "unknown service %q", b.Service)
				} else if b.Subset != "" && !hasSubset(s, b.Subset) {
					fe.add(bp+".subset", "service %q has no subset %q", b.Service, b.Subset)
				}
				if b.Weight > 1_000_000 {
					fe.add(bp+".weight", "must be <= 1000000")
				}
				total += uint64(b.Weight)
			}
			if len(r.Backends) > 1 && total == 0 {
				fe.add(rp+".backends", "weights must not all be 0")
			}
			if r.Timeout < 0 {
				fe.add(rp+".timeout", "must be >= 0")
			}
		}
	}
}

func validateMatch(fe *fieldErrors, p string, m RuleMatch) {
	n := 0
	for _, v := range []string{m.PathPrefix, m.PathExact, m.PathRegex} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		fe.add(p, "set at most one of pathPrefix, pathExact, pathRegex")
	}
	if m.PathPrefix != "" && m.PathPrefix[0] != '/' {
		fe.add(p+".pathPrefix", "must start with /")
	}
	if m.PathExact != "" && m.PathExact[0] != '/' {
		fe.add(p+".pathExact", "must start with /")
	}
	checkRegex(fe, p+".pathRegex", m.PathRegex)
	for i, h := range m.Headers {
		validateKV(fe, fmt.Sprintf("%s.headers[%d]", p, i), h)
	}
	for i, q := range m.Query {
		validateKV(fe, fmt.Sprintf("%s.query[%d]", p, i), q)
	}
}

func validateKV(fe *fieldErrors, p string, kv KVMatch) {
	if kv.Name == "" {
		fe.add(p+".name", "must not be empty")
	}
	n := 0
	if kv.Exact != "" {
		n++
	}
	if kv.Regex != "" {
		n++
	}
	if kv.Present {
		n++
	}
	if n != 1 {
		fe.add(p, "set exactly one of exact, regex, present")
	}
	checkRegex(fe, p+".regex", kv.Regex)
}

func checkRegex(fe *fieldErrors, p, re string) {
	if re == "" {
		return
	}
	if len(re) > maxRegexLen {
		fe.add(p, "must be at most %d bytes", maxRegexLen)
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		fe.add(p, "invalid regex: %v", err)
	}
}

func hasSubset(s *Service, name string) bool {
	for _, sub := range s.Subsets {
		if sub.Name == name {
			return true
		}
	}
	return false
}
