package xdstest

import (
	"fmt"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// rewriteFromXDS maps a RouteAction's prefix_rewrite, regex_rewrite,
// host_rewrite_literal and request_mirror_policies; other host rewrites
// are refused.
func rewriteFromXDS(a *routev3.RouteAction, out *route.Route) error {
	switch a.GetHostRewriteSpecifier().(type) {
	case nil, *routev3.RouteAction_HostRewriteLiteral:
	case *routev3.RouteAction_AutoHostRewrite:
		if a.GetAutoHostRewrite().GetValue() {
			return fmt.Errorf("auto_host_rewrite is not supported")
		}
	default:
		return fmt.Errorf("host rewrite %T is not supported", a.GetHostRewriteSpecifier())
	}
	if a.GetPathRewritePolicy() != nil || a.GetPathRewrite() != "" {
		return fmt.Errorf("path rewrite policies are not supported")
	}
	pr, err := pathFromXDS("", a.GetPrefixRewrite(), a.GetRegexRewrite())
	if err != nil {
		return err
	}
	if h := a.GetHostRewriteLiteral(); h != "" || pr != nil {
		out.Rewrite = &route.Rewrite{Host: h, Path: pr}
	}
	for _, m := range a.GetRequestMirrorPolicies() {
		if m.GetClusterHeader() != "" || m.GetTraceSampled() != nil {
			return fmt.Errorf("mirror cluster_header and trace_sampled are not supported")
		}
		mm := route.Mirror{Cluster: m.GetCluster(), KeepHost: m.GetDisableShadowHostSuffixAppend()}
		if dv := m.GetRuntimeFraction().GetDefaultValue(); dv != nil {
			d := map[typev3.FractionalPercent_DenominatorType]uint32{
				typev3.FractionalPercent_HUNDRED: 100, typev3.FractionalPercent_TEN_THOUSAND: 10_000, typev3.FractionalPercent_MILLION: 1_000_000,
			}[dv.GetDenominator()]
			mm.Numerator, mm.Denominator = min(dv.GetNumerator(), d), d
		}
		out.Mirrors = append(out.Mirrors, mm)
	}
	return nil
}

func pathFromXDS(full, prefix string, re *matcherv3.RegexMatchAndSubstitute) (*route.PathRewrite, error) {
	switch {
	case full != "":
		return &route.PathRewrite{Full: full}, nil
	case prefix != "":
		return &route.PathRewrite{Prefix: prefix}, nil
	case re != nil:
		if strings.Contains(re.GetSubstitution(), `\`) {
			return nil, fmt.Errorf("regex_rewrite capture references are not supported")
		}
		return &route.PathRewrite{Regex: re.GetPattern().GetRegex(), Substitution: re.GetSubstitution()}, nil
	}
	return nil, nil
}

var redirectCodes = map[routev3.RedirectAction_RedirectResponseCode]int{
	routev3.RedirectAction_MOVED_PERMANENTLY: 301, routev3.RedirectAction_FOUND: 302,
	routev3.RedirectAction_SEE_OTHER: 303, routev3.RedirectAction_TEMPORARY_REDIRECT: 307,
	routev3.RedirectAction_PERMANENT_REDIRECT: 308,
}

func redirectFromXDS(r *routev3.RedirectAction, out *route.Route) error {
	rd := &route.Redirect{Host: r.GetHostRedirect(), Port: r.GetPortRedirect(), StripQuery: r.GetStripQuery(),
		Code: redirectCodes[r.GetResponseCode()]}
	if r.GetHttpsRedirect() {
		rd.Scheme = "https"
	}
	if s := r.GetSchemeRedirect(); s != "" {
		rd.Scheme = strings.ToLower(s)
		if rd.Scheme != "http" && rd.Scheme != "https" {
			return fmt.Errorf("scheme_redirect %q is not supported", s)
		}
	}
	if r.GetPathRewrite() != "" {
		return fmt.Errorf("redirect path_rewrite is not supported")
	}
	var err error
	if rd.Path, err = pathFromXDS(r.GetPathRedirect(), r.GetPrefixRewrite(), r.GetRegexRewrite()); err != nil {
		return err
	}
	out.Redirect = rd
	return nil
}
