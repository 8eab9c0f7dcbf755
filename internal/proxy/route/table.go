package route

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/weft-mesh/weft/internal/proxy/fault"
	"github.com/weft-mesh/weft/internal/proxy/ratelimit"
)

// Table is a compiled, immutable route table. Safe for concurrent reads.
type Table struct {
	exact     map[string]*vhost
	wildcards []wildcard // longest suffix first
	any       *vhost
}

type wildcard struct {
	suffix string // ".example.com" for "*.example.com"
	vh     *vhost
}

type vhost struct {
	name   string
	routes []compiled
	bucket *ratelimit.Bucket // shared by routes without their own
}

type compiled struct {
	route   *Route
	path    PathMatch
	pathRE  *regexp.Regexp
	method  string
	headers []compiledKV
	query   []compiledKV
}

type compiledKV struct {
	name   string
	kind   StringMatchKind
	value  string
	re     *regexp.Regexp
	invert bool
}

// Headers gives route matching read access to request headers without
// allocating. name is lowercase ASCII.
type Headers interface {
	Get(name string) ([]byte, bool)
}

// maxRegex bounds a route regex. RE2 runs in linear time, so this caps the
// per-request cost rather than guarding against backtracking.
const maxRegex = 1024

// Compile validates cfg and builds a Table. Errors name the field path.
func Compile(cfg Config) (*Table, error) { return CompileFrom(cfg, nil) }

// CompileFrom is Compile keeping prev's rate-limit buckets for the routes
// and virtual hosts (by name) whose limits did not change. prev may be nil.
func CompileFrom(cfg Config, prev *Table) (*Table, error) {
	t := &Table{exact: map[string]*vhost{}}
	old := indexBuckets(prev)
	var errs []error
	fail := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	owner := map[string]string{}
	for i, vc := range cfg.VirtualHosts {
		vp := fmt.Sprintf("virtualHosts[%d]", i)
		vh := &vhost{name: vc.Name}
		if rl := vc.RateLimit; rl != nil {
			if vh.bucket = reuse(old.host[vc.Name], *rl); vh.bucket == nil {
				fail(vp+".rateLimit", "needs a rate > 0 and a burst >= 1")
			}
		}
		if len(vc.Domains) == 0 {
			fail(vp+".domains", "must name at least one domain")
		}
		for j, d := range vc.Domains {
			dp := fmt.Sprintf("%s.domains[%d]", vp, j)
			key := strings.ToLower(d)
			if prev, dup := owner[key]; dup {
				fail(dp, "domain %q is already served by %s", d, prev)
				continue
			}
			owner[key] = vp
			switch {
			case key == "*":
				t.any = vh
			case strings.HasPrefix(key, "*."):
				if _, err := NormalizeHost(nil, []byte(key[2:])); err != nil {
					fail(dp, "invalid wildcard domain %q", d)
					continue
				}
				t.wildcards = append(t.wildcards, wildcard{suffix: key[1:], vh: vh})
			default:
				n, err := NormalizeHost(nil, []byte(key))
				if err != nil {
					fail(dp, "invalid domain %q", d)
					continue
				}
				t.exact[string(n)] = vh
			}
		}
		routes := append([]Route(nil), vc.Routes...)
		for k := range routes {
			c, err := compileRoute(fmt.Sprintf("%s.routes[%d]", vp, k), &routes[k])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			routes[k].bucket = vh.bucket
			if rl := routes[k].RateLimit; rl != nil {
				routes[k].bucket = reuse(old.route[vc.Name+"\x00"+routes[k].Name], *rl)
			}
			vh.routes = append(vh.routes, c)
		}
	}
	sort.SliceStable(t.wildcards, func(a, b int) bool { return len(t.wildcards[a].suffix) > len(t.wildcards[b].suffix) })
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

func compileRoute(p string, r *Route) (compiled, error) {
	var errs []error
	fail := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	c := compiled{route: r, path: r.Match.Path, method: r.Match.Method}
	switch r.Match.Path.Kind {
	case PathPrefix, PathExact:
		if v := r.Match.Path.Value; v != "" && v[0] != '/' {
			fail(p+".match.path.value", "must start with /")
		}
	case PathRegex:
		re, err := compileRE(r.Match.Path.Value)
		if err != nil {
			fail(p+".match.path.value", "%v", err)
		}
		c.pathRE = re
	default:
		fail(p+".match.path.kind", "unknown kind %d", r.Match.Path.Kind)
	}
	for i, h := range r.Match.Headers {
		kv, err := compileKV(h.Name, h.Kind, h.Value, h.Invert)
		if err != nil {
			fail(fmt.Sprintf("%s.match.headers[%d]", p, i), "%v", err)
		}
		kv.name = strings.ToLower(kv.name)
		c.headers = append(c.headers, kv)
	}
	for i, q := range r.Match.Query {
		kv, err := compileKV(q.Name, q.Kind, q.Value, false)
		if err != nil {
			fail(fmt.Sprintf("%s.match.query[%d]", p, i), "%v", err)
		}
		c.query = append(c.query, kv)
	}
	if r.RateLimit != nil && !r.RateLimit.Valid() {
		fail(p+".rateLimit", "needs a rate > 0 and a burst >= 1")
	}
	if f := r.Fault; f != nil {
		if f.DelayShare > fault.Million || f.AbortShare > fault.Million {
			fail(p+".fault", "shares are at most %d parts per million", fault.Million)
		}
		if f.Delay < 0 {
			fail(p+".fault.delay", "must not be negative")
		}
		if f.AbortHTTP != 0 && (f.AbortHTTP < 200 || f.AbortHTTP > 599) {
			fail(p+".fault.abortHTTP", "%d is not in 200..599", f.AbortHTTP)
		}
		if f.AbortGRPC < 0 || f.AbortGRPC > 16 {
			fail(p+".fault.abortGRPC", "%d is not in 0..16", f.AbortGRPC)
		}
	}
	r.RequestHeaders = compileMods(r.RequestHeaders, p+".requestHeaders", fail)
	r.ResponseHeaders = compileMods(r.ResponseHeaders, p+".responseHeaders", fail)
	compileURLFilters(p, r, fail)
	switch {
	case r.Redirect != nil && len(r.Backends) > 0:
		fail(p+".backends", "a redirecting route has no backends")
	case r.Redirect == nil && len(r.Backends) == 0:
		fail(p+".backends", "must name at least one backend")
	}
	var total uint64
	for i, b := range r.Backends {
		if b.Cluster == "" {
			fail(fmt.Sprintf("%s.backends[%d].cluster", p, i), "must not be empty")
		}
		total += uint64(b.Weight)
	}
	if len(r.Backends) > 1 && total == 0 {
		fail(p+".backends", "weights must not all be 0")
	}
	r.cum = r.cum[:0]
	var sum uint64
	for _, b := range r.Backends {
		sum += uint64(b.Weight)
		r.cum = append(r.cum, sum)
	}
	return c, errors.Join(errs...)
}

func compileKV(name string, kind StringMatchKind, value string, invert bool) (compiledKV, error) {
	kv := compiledKV{name: name, kind: kind, value: value, invert: invert}
	if name == "" {
		return kv, errors.New("name must not be empty")
	}
	for i := 0; i < len(name); i++ {
		if !tokenChar(name[i]) {
			return kv, fmt.Errorf("name %q is not a valid token", name)
		}
	}
	switch kind {
	case MatchExact, MatchPresent:
	case MatchRegex:
		re, err := compileRE(value)
		if err != nil {
			return kv, err
		}
		kv.re = re
	default:
		return kv, fmt.Errorf("unknown kind %d", kind)
	}
	return kv, nil
}

func compileRE(s string) (*regexp.Regexp, error) {
	if len(s) > maxRegex {
		return nil, fmt.Errorf("regex longer than %d bytes", maxRegex)
	}
	re, err := regexp.Compile("^(?:" + s + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid regex: %w", err)
	}
	return re, nil
}

func tokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
