package mesh

import "strings"

// Gateway API's URL filters and request mirroring.
const (
	FilterURLRewrite      = "URLRewrite"
	FilterRequestRedirect = "RequestRedirect"
	FilterRequestMirror   = "RequestMirror"
)

// Path modifier types (Gateway API HTTPPathModifierType).
const (
	FullPathHTTPPathModifier    = "ReplaceFullPath"
	PrefixMatchHTTPPathModifier = "ReplacePrefixMatch"
)

// URLRewrite is Gateway API's HTTPURLRewriteFilter: the request is
// forwarded with a new Host and/or path. The query string is kept.
type URLRewrite struct {
	// Hostname replaces the request's Host header (a DNS name, no port,
	// no wildcard). Optional.
	Hostname string `json:"hostname,omitempty"`
	// Path replaces the whole path or the prefix the rule matched.
	// Optional; at least one of hostname and path is required.
	Path *HTTPPathModifier `json:"path,omitempty"`
}

// HTTPPathModifier is Gateway API's: a whole new path, or a new prefix
// in place of the one the rule's PathPrefix match matched. A prefix /foo
// replaced by /bar turns /foo/x into /bar/x and /foo into /bar; a
// replacement / (or one with a trailing slash) leaves no double slash:
// /foo/x becomes /x.
type HTTPPathModifier struct {
	// Type is ReplaceFullPath or ReplacePrefixMatch. Required.
	Type string `json:"type"`
	// ReplaceFullPath is the new path, starting with /, at most 1024
	// characters. Required with type ReplaceFullPath.
	ReplaceFullPath *string `json:"replaceFullPath,omitempty"`
	// ReplacePrefixMatch replaces the matched prefix, starting with /, at
	// most 1024 characters. Required with type ReplacePrefixMatch, which
	// needs every match of the rule to be a PathPrefix match.
	ReplacePrefixMatch *string `json:"replacePrefixMatch,omitempty"`
}

// RequestRedirect is Gateway API's HTTPRequestRedirectFilter: the client
// sidecar answers with a redirect itself; nothing is forwarded, so a rule
// with a redirect has no backendRefs.
type RequestRedirect struct {
	// Scheme is http or https. Default the request's (http). A new
	// scheme without a port drops the port from Location.
	Scheme *string `json:"scheme,omitempty"`
	// Hostname replaces the request's host in Location (a DNS name, no
	// port, no wildcard). Default the request's host.
	Hostname *string `json:"hostname,omitempty"`
	// Path replaces the path in Location, whole or the matched prefix.
	// Default the request's path. The query string is kept.
	Path *HTTPPathModifier `json:"path,omitempty"`
	// Port is Location's port, 1..65535. Default: the well-known port of a
	// new scheme, else the request's; 80 for http and 443 for https are
	// left out of Location.
	Port *int32 `json:"port,omitempty"`
	// StatusCode is 301, 302, 303, 307 or 308. Default 302.
	StatusCode *int32 `json:"statusCode,omitempty"`
}

// RequestMirror is Gateway API's HTTPRequestMirrorFilter: a copy of a
// share of the rule's requests goes to another Service, its Host suffixed
// -shadow (as Envoy does); the copy's response is discarded, and it never
// delays or fails the request itself. Bodies over 64 KiB are not
// mirrored. Set at most one of percent and fraction.
type RequestMirror struct {
	// BackendRef is the Service (or one of its subsets) receiving the
	// copies. Required.
	BackendRef MirrorBackendRef `json:"backendRef"`
	// Percent is the share of requests mirrored, 0..100. Default 100
	// (every request) when fraction is unset too.
	Percent *int32 `json:"percent,omitempty"`
	// Fraction is the share of requests mirrored as a fraction. Optional.
	Fraction *Fraction `json:"fraction,omitempty"`
}

// MirrorBackendRef is Gateway API's BackendObjectReference naming a
// Service; Subset is Weft's extension, as on BackendRef.
type MirrorBackendRef struct {
	// Group must be empty (the core group, where Service lives).
	Group string `json:"group,omitempty"`
	// Kind must be Service. Default Service.
	Kind string `json:"kind,omitempty"`
	// Name is the Service, in the route's namespace. Required.
	Name string `json:"name"`
	// Port would pick a port of the Service. Not supported yet: the
	// sidecar reaches each instance on the port it registered.
	Port int32 `json:"port,omitempty"`
	// Subset narrows the mirror to one of the Service's subsets. Optional.
	Subset string `json:"subset,omitempty"`
}

// Fraction is Gateway API's: numerator/denominator of requests.
type Fraction struct {
	// Numerator is 0..denominator. Required.
	Numerator int32 `json:"numerator"`
	// Denominator is at least 1. Default 100.
	Denominator *int32 `json:"denominator,omitempty"`
}

const maxRewritePath = 1024

func defaultURLFilters(f *HTTPFilter) {
	if m := f.RequestMirror; m != nil {
		if m.BackendRef.Kind == "" {
			m.BackendRef.Kind = KindService
		}
		if m.Fraction != nil && m.Fraction.Denominator == nil {
			m.Fraction.Denominator = ptr32(100)
		}
	}
	if r := f.RequestRedirect; r != nil && r.StatusCode == nil {
		r.StatusCode = ptr32(302)
	}
}

func validateURLRewrite(v *errs, path string, u *URLRewrite, matches []HTTPRouteMatch) {
	if u == nil || u.Hostname == "" && u.Path == nil {
		v.add(path, "a URLRewrite filter needs hostname, path or both")
		return
	}
	if u.Hostname != "" {
		checkPreciseHost(v, path+".hostname", u.Hostname)
	}
	if u.Path != nil {
		validatePathModifier(v, path+".path", u.Path, matches)
	}
}

func validateRedirect(v *errs, path string, r *RequestRedirect, matches []HTTPRouteMatch) {
	if r == nil {
		v.add(path, "a RequestRedirect filter needs requestRedirect")
		return
	}
	if r.Scheme != nil && *r.Scheme != "http" && *r.Scheme != "https" {
		v.add(path+".scheme", "must be http or https; got %q", *r.Scheme)
	}
	if r.Hostname != nil {
		checkPreciseHost(v, path+".hostname", *r.Hostname)
	}
	if r.Path != nil {
		validatePathModifier(v, path+".path", r.Path, matches)
	}
	if r.Port != nil && (*r.Port < 1 || *r.Port > 65535) {
		v.add(path+".port", "must be 1..65535; got %d", *r.Port)
	}
	if r.StatusCode != nil {
		switch *r.StatusCode {
		case 301, 302, 303, 307, 308:
		default:
			v.add(path+".statusCode", "must be 301, 302, 303, 307 or 308; got %d", *r.StatusCode)
		}
	}
}

func validateMirror(v *errs, path string, m *RequestMirror) {
	if m == nil {
		v.add(path, "a RequestMirror filter needs requestMirror")
		return
	}
	b, bp := m.BackendRef, path+".backendRef"
	if b.Group != "" {
		v.add(bp+".group", "must be empty (the core group of Service); got %q", b.Group)
	}
	if b.Kind != KindService {
		v.add(bp+".kind", "must be Service; got %q", b.Kind)
	}
	if !dnsLabel(b.Name) {
		v.add(bp+".name", "must be a DNS-1123 label; got %q", b.Name)
	}
	if b.Port != 0 {
		v.unsupported(bp+".port", "the sidecar reaches each instance on the port it registered")
	}
	if b.Subset != "" && !dnsLabel(b.Subset) {
		v.add(bp+".subset", "must be a DNS-1123 label; got %q", b.Subset)
	}
	if m.Percent != nil && m.Fraction != nil {
		v.add(path, "set at most one of percent and fraction")
	}
	checkPercent(v, path+".percent", m.Percent)
	if f := m.Fraction; f != nil {
		d := int32(100)
		if f.Denominator != nil {
			d = *f.Denominator
		}
		if d < 1 {
			v.add(path+".fraction.denominator", "must be at least 1; got %d", d)
		}
		if f.Numerator < 0 || f.Numerator > d {
			v.add(path+".fraction.numerator", "must be 0..denominator (%d); got %d", d, f.Numerator)
		}
	}
}

func validatePathModifier(v *errs, path string, p *HTTPPathModifier, matches []HTTPRouteMatch) {
	check := func(key string, s *string) {
		switch {
		case s == nil:
			v.add(path+"."+key, "is required with type %s", p.Type)
		case len(*s) == 0 || (*s)[0] != '/':
			v.add(path+"."+key, "must start with /")
		case len(*s) > maxRewritePath:
			v.add(path+"."+key, "longer than %d characters", maxRewritePath)
		case strings.ContainsAny(*s, "?#\r\n\x00 \t"):
			v.add(path+"."+key, "must be a path: no ?, #, whitespace or control characters")
		}
	}
	switch p.Type {
	case FullPathHTTPPathModifier:
		check("replaceFullPath", p.ReplaceFullPath)
		if p.ReplacePrefixMatch != nil {
			v.add(path+".replacePrefixMatch", "only with type %s", PrefixMatchHTTPPathModifier)
		}
	case PrefixMatchHTTPPathModifier:
		check("replacePrefixMatch", p.ReplacePrefixMatch)
		if p.ReplaceFullPath != nil {
			v.add(path+".replaceFullPath", "only with type %s", FullPathHTTPPathModifier)
		}
		for i, m := range matches {
			if m.Path != nil && m.Path.Type != "PathPrefix" {
				v.add(path, "ReplacePrefixMatch needs PathPrefix matches; matches[%d] is %s", i, m.Path.Type)
			}
		}
	default:
		v.add(path+".type", "must be %s or %s; got %q", FullPathHTTPPathModifier, PrefixMatchHTTPPathModifier, p.Type)
	}
}

// checkPreciseHost accepts Gateway API's PreciseHostname: a DNS name, no
// wildcard, no port.
func checkPreciseHost(v *errs, path, h string) {
	if !dnsName(h) || strings.HasPrefix(h, "*") {
		v.add(path, "must be a DNS name without wildcard or port; got %q", h)
	}
}
