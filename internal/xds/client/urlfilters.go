package client

import (
	"fmt"
	"strings"

	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// rewriteToProxy maps a RouteAction's path and host rewrites and its
// mirror policies, as xdstest.ToProxy does. What the proxy cannot do as
// Envoy would (rewrite policies, hosts from headers or the endpoint,
// capture references in a substitution) is refused.
func rewriteToProxy(a *envoypb.RouteAction, out *route.Route) error {
	switch {
	case a.GetPathRewritePolicy() != nil:
		return unsupported("path_rewrite_policy", "path rewrite extensions")
	case a.GetPathRewrite() != "":
		return unsupported("path_rewrite", "path rewrite expressions")
	}
	pr, err := pathRewriteToProxy("", a.GetPrefixRewrite(), a.GetRegexRewrite(), out.Match.Path.Kind)
	if err != nil {
		return err
	}
	var host string
	switch h := a.GetHostRewriteSpecifier().(type) {
	case nil:
	case *envoypb.RouteAction_HostRewriteLiteral:
		if !headerSafe(h.HostRewriteLiteral) {
			return invalid("host_rewrite_literal", "holds NUL, CR or LF")
		}
		if _, err := route.NormalizeHost(nil, []byte(h.HostRewriteLiteral)); err != nil || len(h.HostRewriteLiteral) > route.MaxRewriteLen {
			return stricter("host_rewrite_literal", "%q is not a host", h.HostRewriteLiteral)
		}
		host = h.HostRewriteLiteral
	case *envoypb.RouteAction_AutoHostRewrite:
		if h.AutoHostRewrite.GetValue() {
			return unsupported("auto_host_rewrite", "the Host of the picked endpoint")
		}
	case *envoypb.RouteAction_HostRewriteHeader:
		return unsupported("host_rewrite_header", "a Host taken from a header")
	case *envoypb.RouteAction_HostRewritePathRegex:
		return unsupported("host_rewrite_path_regex", "a Host taken from the path")
	case *envoypb.RouteAction_HostRewrite:
		return unsupported("host_rewrite", "host rewrite expressions")
	}
	if host != "" || pr != nil {
		out.Rewrite = &route.Rewrite{Host: host, Path: pr}
	}
	ms := a.GetRequestMirrorPolicies()
	if len(ms) > route.MaxMirrors {
		return stricter("request_mirror_policies", "at most %d", route.MaxMirrors)
	}
	for i, m := range ms {
		mm, err := mirrorToProxy(m)
		if err != nil {
			return fmt.Errorf("request_mirror_policies[%d]: %w", i, err)
		}
		out.Mirrors = append(out.Mirrors, mm)
	}
	return nil
}

var denominators = map[envoypb.FractionalPercent_DenominatorType]uint32{
	envoypb.FractionalPercent_HUNDRED:      100,
	envoypb.FractionalPercent_TEN_THOUSAND: 10_000,
	envoypb.FractionalPercent_MILLION:      1_000_000,
}

func mirrorToProxy(m *envoypb.RouteAction_RequestMirrorPolicy) (route.Mirror, error) {
	out := route.Mirror{Cluster: m.GetCluster(), KeepHost: m.GetDisableShadowHostSuffixAppend()}
	switch {
	case m.GetClusterHeader() != "":
		return out, unsupported("cluster_header", "mirror clusters named by a header")
	case !nonEmpty(out.Cluster):
		return out, stricter("cluster", "one of cluster and cluster_header is required (Envoy refuses it in code)")
	case m.GetTraceSampled() != nil:
		return out, unsupported("trace_sampled", "the mirror's trace sampling")
	}
	if err := capped("cluster", out.Cluster, maxName); err != nil {
		return out, err
	}
	if rf := m.GetRuntimeFraction(); rf != nil {
		dv := rf.GetDefaultValue()
		if dv == nil {
			return out, invalid("runtime_fraction.default_value", "is required")
		}
		d, ok := denominators[dv.GetDenominator()]
		if !ok {
			return out, invalid("runtime_fraction.default_value.denominator", "undefined %d", dv.GetDenominator())
		}
		out.Numerator, out.Denominator = min(dv.GetNumerator(), d), d // Envoy caps at 100 %
	}
	return out, nil
}

// pathRewriteToProxy maps one of a full path, a prefix rewrite and a
// regex rewrite (at most one set, by the caller's oneof or Envoy's rule).
func pathRewriteToProxy(full, prefix string, re *envoypb.RegexMatchAndSubstitute, kind route.PathMatchKind) (*route.PathRewrite, error) {
	if prefix != "" && re != nil {
		return nil, stricter("prefix_rewrite", "cannot be set with regex_rewrite (Envoy refuses it in code)")
	}
	for _, f := range []struct{ name, v string }{{"path_redirect", full}, {"prefix_rewrite", prefix}} {
		if f.v == "" {
			continue
		}
		if !headerSafe(f.v) {
			return nil, invalid(f.name, "holds NUL, CR or LF")
		}
		if len(f.v) > route.MaxRewriteLen || f.v[0] != '/' || strings.ContainsAny(f.v, " \t#") {
			return nil, stricter(f.name, "%q is not a path of at most %d bytes", f.v, route.MaxRewriteLen)
		}
	}
	switch {
	case full != "":
		return &route.PathRewrite{Full: full}, nil
	case prefix != "":
		if kind == route.PathRegex {
			return nil, stricter("prefix_rewrite", "a regex match has no prefix to replace")
		}
		return &route.PathRewrite{Prefix: prefix}, nil
	case re != nil:
		if re.GetPattern() == nil {
			return nil, invalid("regex_rewrite.pattern", "is required")
		}
		if err := checkRegex(re.GetPattern(), "regex_rewrite.pattern"); err != nil {
			return nil, err
		}
		s := re.GetSubstitution()
		if strings.Contains(s, `\`) {
			return nil, unsupported("regex_rewrite.substitution", "capture references")
		}
		if !headerSafe(s) {
			return nil, invalid("regex_rewrite.substitution", "holds NUL, CR or LF")
		}
		if len(s) > route.MaxRewriteLen || strings.ContainsAny(s, " \t#") {
			return nil, stricter("regex_rewrite.substitution", "%q is not a path part of at most %d bytes", s, route.MaxRewriteLen)
		}
		return &route.PathRewrite{Regex: re.GetPattern().GetRegex(), Substitution: s}, nil
	}
	return nil, nil
}

var redirectCodes = map[envoypb.RedirectAction_RedirectResponseCode]int{
	envoypb.RedirectAction_MOVED_PERMANENTLY:  301,
	envoypb.RedirectAction_FOUND:              302,
	envoypb.RedirectAction_SEE_OTHER:          303,
	envoypb.RedirectAction_TEMPORARY_REDIRECT: 307,
	envoypb.RedirectAction_PERMANENT_REDIRECT: 308,
}

// redirectToProxy maps a RedirectAction, as xdstest.ToProxy does.
func redirectToProxy(r *envoypb.RedirectAction, out *route.Route) error {
	rd := &route.Redirect{Host: r.GetHostRedirect(), Port: r.GetPortRedirect(), StripQuery: r.GetStripQuery()}
	code, ok := redirectCodes[r.GetResponseCode()]
	if !ok {
		return invalid("response_code", "undefined code %d", r.GetResponseCode())
	}
	rd.Code = code
	switch s := r.GetSchemeRewriteSpecifier().(type) {
	case *envoypb.RedirectAction_HttpsRedirect:
		if s.HttpsRedirect {
			rd.Scheme = "https"
		}
	case *envoypb.RedirectAction_SchemeRedirect:
		switch l := strings.ToLower(s.SchemeRedirect); l {
		case "", "http", "https":
			rd.Scheme = l
		default:
			return unsupported("scheme_redirect", "scheme %q (http and https only)", s.SchemeRedirect)
		}
	}
	if rd.Host != "" {
		if !headerSafe(rd.Host) {
			return invalid("host_redirect", "holds NUL, CR or LF")
		}
		if _, err := route.NormalizeHost(nil, []byte(rd.Host)); err != nil || len(rd.Host) > route.MaxRewriteLen {
			return stricter("host_redirect", "%q is not a host", rd.Host)
		}
	}
	if rd.Port > 65535 {
		return stricter("port_redirect", "%d is not a port", rd.Port)
	}
	var err error
	switch p := r.GetPathRewriteSpecifier().(type) {
	case *envoypb.RedirectAction_PathRedirect:
		rd.Path, err = pathRewriteToProxy(p.PathRedirect, "", nil, out.Match.Path.Kind)
	case *envoypb.RedirectAction_PrefixRewrite:
		rd.Path, err = pathRewriteToProxy("", p.PrefixRewrite, nil, out.Match.Path.Kind)
	case *envoypb.RedirectAction_RegexRewrite:
		rd.Path, err = pathRewriteToProxy("", "", p.RegexRewrite, out.Match.Path.Kind)
	case *envoypb.RedirectAction_PathRewrite:
		return unsupported("path_rewrite", "path rewrite expressions")
	}
	if err != nil {
		return err
	}
	out.Redirect = rd
	return nil
}
