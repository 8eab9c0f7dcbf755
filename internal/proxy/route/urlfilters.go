package route

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Caps on URL filters: a rewritten path or host, and mirrors per route.
const (
	MaxRewriteLen = 1024
	MaxMirrors    = 4
)

// PathRewrite changes a request path the way Envoy's route fields do. At
// most one of Full, Prefix and Regex is set.
type PathRewrite struct {
	// Full replaces the whole path (Envoy's path_redirect, redirects
	// only). A query in it replaces the request's.
	Full string `json:",omitempty"`
	// Prefix replaces the part of the path the route's match matched
	// (Envoy's prefix_rewrite): a prefix match's value, or an exact
	// match's whole path. Not with a regex match.
	Prefix string `json:",omitempty"`
	// Regex is an RE2 pattern (unanchored, at most 1024 bytes); each match
	// in the path is replaced by Substitution, taken literally (Envoy's
	// regex_rewrite without capture references).
	Regex        string `json:",omitempty"`
	Substitution string `json:",omitempty"`

	re *regexp.Regexp // set by Compile
}

// Rewrite is a URLRewrite: the request is forwarded with a new Host
// and/or path; the query string is kept.
type Rewrite struct {
	// Host replaces the Host header (Envoy's host_rewrite_literal); ""
	// keeps it.
	Host string `json:",omitempty"`
	// Path rewrites the path; nil keeps it.
	Path *PathRewrite `json:",omitempty"`
}

// Redirect is a RequestRedirect. Location is
// scheme://host[:port]path[?query] where each part is the request's unless
// set here. A new Scheme without a Port drops the port; 80 with http and
// 443 with https are never written.
type Redirect struct {
	Scheme string       `json:",omitempty"` // "http" or "https"; "" keeps the request's (http)
	Host   string       `json:",omitempty"` // "" keeps the request's host
	Port   uint32       `json:",omitempty"` // 0 keeps the request's port (see above)
	Path   *PathRewrite `json:",omitempty"` // nil keeps the request's path
	// Code is 301, 302, 303, 307 or 308.
	Code int
	// StripQuery leaves the request's query out of Location.
	StripQuery bool `json:",omitempty"`
}

// Mirror sends a copy of Numerator in Denominator requests to Cluster.
type Mirror struct {
	Cluster string
	// Numerator of Denominator requests are mirrored; Denominator 0 means
	// every request.
	Numerator, Denominator uint32 `json:",omitempty"`
	// KeepHost sends the copy with the request's Host unchanged instead
	// of suffixed -shadow (Envoy's disable_shadow_host_suffix_append).
	KeepHost bool `json:",omitempty"`
}

// Mirrored reports whether a request drawing rnd is mirrored.
func (m *Mirror) Mirrored(rnd uint64) bool {
	return m.Denominator == 0 || rnd%uint64(m.Denominator) < uint64(m.Numerator)
}

// RewritePath appends to dst the path r forwards for path (normalised,
// without query), and reports whether r rewrites it at all.
func (r *Route) RewritePath(dst, path []byte) ([]byte, bool) {
	if r.Rewrite == nil || r.Rewrite.Path == nil {
		return dst, false
	}
	return r.Rewrite.Path.apply(dst, path, &r.Match.Path), true
}

// apply appends the rewritten path. Only Regex allocates.
func (pr *PathRewrite) apply(dst, path []byte, m *PathMatch) []byte {
	switch {
	case pr.Full != "":
		return append(dst, pr.Full...)
	case pr.Prefix != "":
		dst = append(dst, pr.Prefix...)
		if m.Kind == PathPrefix && len(path) >= len(m.Value) {
			return append(dst, path[len(m.Value):]...)
		}
		return dst // an exact match's whole path is replaced
	case pr.re != nil:
		return append(dst, pr.re.ReplaceAllLiteral(path, []byte(pr.Substitution))...)
	}
	return append(dst, path...)
}

// AppendLocation appends the redirect's Location for a request with the
// given authority (Host header, possibly with a port), normalised path and
// query (without '?').
func (r *Route) AppendLocation(dst, authority, path, query []byte) []byte {
	rd := r.Redirect
	host, port := splitHostPort(authority)
	scheme := "http"
	if rd.Scheme != "" {
		scheme = rd.Scheme
		port = nil // a new scheme's own port
	}
	dst = append(dst, scheme...)
	dst = append(dst, "://"...)
	if rd.Host != "" {
		dst = append(dst, rd.Host...)
	} else {
		dst = append(dst, host...)
	}
	switch {
	case rd.Port != 0:
		if !(scheme == "http" && rd.Port == 80 || scheme == "https" && rd.Port == 443) {
			dst = append(dst, ':')
			dst = appendUint(dst, rd.Port)
		}
	case len(port) > 0 && !(scheme == "http" && string(port) == "80" || scheme == "https" && string(port) == "443"):
		dst = append(dst, ':')
		dst = append(dst, port...)
	}
	if rd.Path == nil {
		dst = append(dst, path...)
	} else {
		start := len(dst)
		dst = rd.Path.apply(dst, path, &r.Match.Path)
		if bytes.IndexByte(dst[start:], '?') >= 0 {
			return dst // path_redirect with its own query replaces the request's
		}
	}
	if len(query) > 0 && !rd.StripQuery {
		dst = append(dst, '?')
		dst = append(dst, query...)
	}
	return dst
}

// splitHostPort splits an authority; IPv6 literals keep their brackets.
func splitHostPort(a []byte) (host, port []byte) {
	i := len(a) - 1
	for i >= 0 && a[i] >= '0' && a[i] <= '9' {
		i--
	}
	if i >= 0 && a[i] == ':' && i < len(a)-1 && (a[0] != '[' || i > 0 && a[i-1] == ']') {
		return a[:i], a[i+1:]
	}
	return a, nil
}

func appendUint(dst []byte, v uint32) []byte {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

func compileURLFilters(p string, r *Route, fail func(path, format string, args ...any)) {
	if rw := r.Rewrite; rw != nil {
		c := *rw
		if c.Host == "" && c.Path == nil {
			fail(p+".rewrite", "needs a host or a path")
		}
		if c.Host != "" {
			if _, err := NormalizeHost(nil, []byte(c.Host)); err != nil || len(c.Host) > MaxRewriteLen {
				fail(p+".rewrite.host", "invalid host %q", c.Host)
			}
		}
		if c.Path != nil {
			if c.Path.Full != "" {
				fail(p+".rewrite.path.full", "only redirects replace the whole path; rewrite with a regex")
			}
			c.Path = compilePath(p+".rewrite.path", c.Path, r.Match.Path.Kind, fail)
		}
		r.Rewrite = &c
	}
	if rd := r.Redirect; rd != nil {
		c := *rd
		switch c.Scheme {
		case "", "http", "https":
		default:
			fail(p+".redirect.scheme", "must be http or https; got %q", c.Scheme)
		}
		if c.Host != "" {
			if _, err := NormalizeHost(nil, []byte(c.Host)); err != nil || len(c.Host) > MaxRewriteLen {
				fail(p+".redirect.host", "invalid host %q", c.Host)
			}
		}
		if c.Port > 65535 {
			fail(p+".redirect.port", "must be 1..65535; got %d", c.Port)
		}
		switch c.Code {
		case 301, 302, 303, 307, 308:
		default:
			fail(p+".redirect.code", "must be 301, 302, 303, 307 or 308; got %d", c.Code)
		}
		if c.Path != nil {
			c.Path = compilePath(p+".redirect.path", c.Path, r.Match.Path.Kind, fail)
		}
		r.Redirect = &c
	}
	if len(r.Mirrors) > MaxMirrors {
		fail(p+".mirrors", "at most %d", MaxMirrors)
	}
	for i, m := range r.Mirrors {
		mp := fmt.Sprintf("%s.mirrors[%d]", p, i)
		if m.Cluster == "" {
			fail(mp+".cluster", "must not be empty")
		}
		if m.Denominator != 0 && m.Numerator > m.Denominator {
			fail(mp, "numerator %d exceeds denominator %d", m.Numerator, m.Denominator)
		}
	}
}

// compilePath checks a path rewrite and returns a copy with its regex
// compiled (a copy: the config may be compiled again, concurrently).
func compilePath(p string, in *PathRewrite, kind PathMatchKind, fail func(path, format string, args ...any)) *PathRewrite {
	c := *in
	n := 0
	for _, s := range []string{c.Full, c.Prefix, c.Regex} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		fail(p, "set exactly one of full, prefix and regex")
	}
	for _, s := range []string{c.Full, c.Prefix, c.Substitution} {
		if len(s) > MaxRewriteLen || strings.ContainsAny(s, "\r\n\x00 \t#") {
			fail(p, "%q is not a path of at most %d bytes", s, MaxRewriteLen)
		}
	}
	if c.Full != "" && c.Full[0] != '/' || c.Prefix != "" && c.Prefix[0] != '/' {
		fail(p, "a path starts with /")
	}
	if c.Prefix != "" && kind == PathRegex {
		fail(p+".prefix", "a regex match has no prefix to replace")
	}
	if c.Regex != "" {
		if len(c.Regex) > maxRegex {
			fail(p+".regex", "regex longer than %d bytes", maxRegex)
		} else if re, err := regexp.Compile(c.Regex); err != nil {
			fail(p+".regex", "invalid regex: %v", err)
		} else {
			c.re = re
		}
	}
	return &c
}
