package authz

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Headers reads a request header by lowercase name.
type Headers interface {
	Get(name string) ([]byte, bool)
}

// Request is the normalised view of one inbound request, the same one
// routing reads.
type Request struct {
	// Peer is the verified SPIFFE ID of the mTLS peer (proxy.PeerID), ""
	// for a plaintext or unauthenticated connection.
	Peer string
	// Method is the request method.
	Method []byte
	// Host is the normalised host (route.NormalizeHost).
	Host []byte
	// Path is the normalised path without the query (route.NormalizePath).
	Path []byte
	// ParamlessPath is Path with each segment's ";parameters" removed
	// (StripParams), or nil when Path has none. Apps such as Tomcat serve
	// /admin;x as /admin, so DENY filters match either form; ALLOW filters
	// see Path only, so a parameter never widens what is allowed.
	ParamlessPath []byte
	// Port is the local port the request arrived on.
	Port uint32
	// Headers reads the request's headers; nil reads none.
	Headers Headers
}

// Decision is the outcome of Evaluate.
type Decision struct {
	Allowed bool
	// Policy names the policy that decided: the DENY policy that matched,
	// or the ALLOW policy that let the request through. "" when no ALLOW
	// policy matched (denied by default) or no filter applied (allowed).
	Policy string
	// Action is the decisive filter's action; Allow when none applied.
	Action Action
}

// NoPolicy labels a denial no single policy made: an ALLOW filter where
// no policy matched (Envoy reports it as matched_policy[none]).
const NoPolicy = "none"

// Table is a compiled Config, immutable and safe for concurrent use.
type Table struct {
	filters  []cfilter
	needPeer bool
}

type cfilter struct {
	action   Action
	policies []cpolicy
}

type cpolicy struct {
	name  string
	perms []cperm
	princ []cprinc
}

type cperm struct {
	any       bool
	and, or   []cperm
	not       *cperm
	header    *cheader
	path      *cmatch
	port      uint32
	portMatch bool
}

type cprinc struct {
	any     bool
	and, or []cprinc
	not     *cprinc
	authn   bool
	name    *cmatch // nil with authn: any authenticated peer
}

type cheader struct {
	name    string // lowercase
	kind    headerKind
	match   *cmatch
	present bool
	invert  bool
}

type headerKind uint8

const (
	headerPlain headerKind = iota
	headerMethod
	headerAuthority
)

type cmatch struct {
	kind  MatchKind
	value string // lowercased when fold
	fold  bool
	re    *regexp.Regexp
}

// Limits on a config, so a push cannot make evaluation unbounded.
const (
	maxFilters  = 16
	maxPolicies = 1000
	maxDepth    = 16
	maxNodes    = 100000
)

// ErrInvalid wraps every compile error.
var ErrInvalid = errors.New("authz: invalid config")

// Compile checks cfg and builds its table. A nil or empty config gives a
// table that allows everything.
func Compile(cfg Config) (*Table, error) {
	if len(cfg.Filters) > maxFilters {
		return nil, fmt.Errorf("%w: more than %d filters", ErrInvalid, maxFilters)
	}
	c := compiler{}
	t := &Table{}
	for i, f := range cfg.Filters {
		if len(f.Policies) > maxPolicies {
			return nil, fmt.Errorf("%w: filters[%d]: more than %d policies", ErrInvalid, i, maxPolicies)
		}
		cf := cfilter{action: f.Action}
		for j, p := range f.Policies {
			path := fmt.Sprintf("filters[%d].policies[%d]", i, j)
			if p.Name == "" {
				return nil, fmt.Errorf("%w: %s: a name is required", ErrInvalid, path)
			}
			cp := cpolicy{name: p.Name}
			if len(p.Permissions) == 0 || len(p.Principals) == 0 {
				return nil, fmt.Errorf("%w: %s: permissions and principals are required", ErrInvalid, path)
			}
			for k := range p.Permissions {
				pm, err := c.perm(&p.Permissions[k], fmt.Sprintf("%s.permissions[%d]", path, k), 0)
				if err != nil {
					return nil, err
				}
				cp.perms = append(cp.perms, pm)
			}
			for k := range p.Principals {
				pr, err := c.princ(&p.Principals[k], fmt.Sprintf("%s.principals[%d]", path, k), 0)
				if err != nil {
					return nil, err
				}
				cp.princ = append(cp.princ, pr)
			}
			cf.policies = append(cf.policies, cp)
		}
		t.filters = append(t.filters, cf)
	}
	t.needPeer = c.peer
	return t, nil
}

// NeedsPeer reports whether any principal reads the peer's identity, so
// an engine can skip computing it when none does.
func (t *Table) NeedsPeer() bool { return t != nil && t.needPeer }

// Empty reports a table with no filter: every request is allowed.
func (t *Table) Empty() bool { return t == nil || len(t.filters) == 0 }

type compiler struct {
	nodes int
	peer  bool
}

func (c *compiler) count(path string, depth int) error {
	c.nodes++
	if c.nodes > maxNodes {
		return fmt.Errorf("%w: more than %d rules in all", ErrInvalid, maxNodes)
	}
	if depth > maxDepth {
		return fmt.Errorf("%w: %s: nested deeper than %d", ErrInvalid, path, maxDepth)
	}
	return nil
}

func (c *compiler) perm(p *Permission, path string, depth int) (cperm, error) {
	if err := c.count(path, depth); err != nil {
		return cperm{}, err
	}
	var out cperm
	set := 0
	if p.Any {
		out.any = true
		set++
	}
	if p.And != nil {
		set++
		for i := range p.And {
			sub, err := c.perm(&p.And[i], fmt.Sprintf("%s.and_rules[%d]", path, i), depth+1)
			if err != nil {
				return out, err
			}
			out.and = append(out.and, sub)
		}
	}
	if p.Or != nil {
		set++
		for i := range p.Or {
			sub, err := c.perm(&p.Or[i], fmt.Sprintf("%s.or_rules[%d]", path, i), depth+1)
			if err != nil {
				return out, err
			}
			out.or = append(out.or, sub)
		}
	}
	if p.Not != nil {
		set++
		sub, err := c.perm(p.Not, path+".not_rule", depth+1)
		if err != nil {
			return out, err
		}
		out.not = &sub
	}
	if p.Header != nil {
		set++
		h, err := compileHeader(p.Header, path+".header")
		if err != nil {
			return out, err
		}
		out.header = h
	}
	if p.Path != nil {
		set++
		m, err := compileMatch(p.Path, path+".url_path")
		if err != nil {
			return out, err
		}
		out.path = m
	}
	if p.Port != 0 {
		set++
		out.port, out.portMatch = p.Port, true
	}
	if set != 1 {
		return out, fmt.Errorf("%w: %s: exactly one rule must be set; got %d", ErrInvalid, path, set)
	}
	return out, nil
}

func (c *compiler) princ(p *Principal, path string, depth int) (cprinc, error) {
	if err := c.count(path, depth); err != nil {
		return cprinc{}, err
	}
	var out cprinc
	set := 0
	if p.Any {
		out.any = true
		set++
	}
	if p.And != nil {
		set++
		for i := range p.And {
			sub, err := c.princ(&p.And[i], fmt.Sprintf("%s.and_ids[%d]", path, i), depth+1)
			if err != nil {
				return out, err
			}
			out.and = append(out.and, sub)
		}
	}
	if p.Or != nil {
		set++
		for i := range p.Or {
			sub, err := c.princ(&p.Or[i], fmt.Sprintf("%s.or_ids[%d]", path, i), depth+1)
			if err != nil {
				return out, err
			}
			out.or = append(out.or, sub)
		}
	}
	if p.Not != nil {
		set++
		sub, err := c.princ(p.Not, path+".not_id", depth+1)
		if err != nil {
			return out, err
		}
		out.not = &sub
	}
	if p.Authenticated != nil {
		set++
		out.authn = true
		c.peer = true
		if p.Authenticated.Name != nil {
			m, err := compileMatch(p.Authenticated.Name, path+".authenticated.principal_name")
			if err != nil {
				return out, err
			}
			out.name = m
		}
	}
	if set != 1 {
		return out, fmt.Errorf("%w: %s: exactly one identifier must be set; got %d", ErrInvalid, path, set)
	}
	return out, nil
}

func compileHeader(h *HeaderMatch, path string) (*cheader, error) {
	name := strings.ToLower(h.Name)
	if name == "" {
		return nil, fmt.Errorf("%w: %s.name: required", ErrInvalid, path)
	}
	out := &cheader{name: name, invert: h.Invert, present: h.Present}
	switch name {
	case ":method":
		out.kind = headerMethod
	case ":authority", "host":
		out.kind = headerAuthority
	default:
		if strings.HasPrefix(name, ":") {
			return nil, fmt.Errorf("%w: %s.name: pseudo-header %q is not matched (only :method and :authority)", ErrInvalid, path, name)
		}
	}
	if h.Match != nil {
		m, err := compileMatch(h.Match, path)
		if err != nil {
			return nil, err
		}
		out.match = m
	} else if !h.Present {
		return nil, fmt.Errorf("%w: %s: a match or present is required", ErrInvalid, path)
	}
	return out, nil
}

func compileMatch(m *StringMatch, path string) (*cmatch, error) {
	out := &cmatch{kind: m.Kind, value: m.Value, fold: m.IgnoreCase}
	switch m.Kind {
	case Exact:
	case Prefix, Suffix, Contains:
		if m.Value == "" {
			return nil, fmt.Errorf("%w: %s: prefix, suffix and contains must not be empty", ErrInvalid, path)
		}
	case Regex:
		expr := "^(?:" + m.Value + ")$"
		if m.IgnoreCase {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
		}
		out.re = re
		return out, nil
	default:
		return nil, fmt.Errorf("%w: %s: unknown match kind %d", ErrInvalid, path, m.Kind)
	}
	if out.fold {
		out.value = strings.ToLower(out.value)
	}
	return out, nil
}
