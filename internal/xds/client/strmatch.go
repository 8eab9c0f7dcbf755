package client

import (
	"regexp/syntax"

	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// checkRegex is Envoy's rule on a RegexMatcher (a non-empty regex), then a
// parse, so a regex neither RE2 nor the proxy can run is NACKed at decode
// time. Its engine is RE2, whose syntax Go's regexp implements. Parsing,
// not compiling: a parse allocates in proportion to the regex's length,
// while a compile expands repetitions (a few bytes like \pL{1000} become
// megabytes), and the proxy compiles each regex once anyway, when it builds
// its route table. The regex is parsed alone, not anchored as the proxy
// anchors it, since "a)(b" only parses anchored and RE2 rejects it.
func checkRegex(r *envoypb.RegexMatcher, name string) error {
	re := r.GetRegex()
	if err := capped(name+".regex", re, maxRegex); err != nil {
		return err
	}
	if !nonEmpty(re) {
		return invalid(name+".regex", "must not be empty")
	}
	if _, err := syntax.Parse(re, syntax.Perl); err != nil {
		return stricter(name+".regex", "%v", err)
	}
	return nil
}

// stringMatchToProxy checks Envoy's rules on a StringMatcher, then maps the
// two kinds the proxy has. xdstest.ToProxy reads any other kind as an exact
// match on "", and ignores ignore_case; both would match the wrong
// requests, so they are refused.
func stringMatchToProxy(s *envoypb.StringMatcher, name string) (route.StringMatchKind, string, error) {
	var kind, value string
	switch p := s.GetMatchPattern().(type) {
	case nil:
		return 0, "", invalid(name, "a match pattern is required")
	case *envoypb.StringMatcher_Exact:
		kind, value = "exact", p.Exact
	case *envoypb.StringMatcher_Prefix:
		kind, value = "prefix", p.Prefix
	case *envoypb.StringMatcher_Suffix:
		kind, value = "suffix", p.Suffix
	case *envoypb.StringMatcher_Contains:
		kind, value = "contains", p.Contains
	case *envoypb.StringMatcher_SafeRegex:
		if err := checkRegex(p.SafeRegex, name+".safe_regex"); err != nil {
			return 0, "", err
		}
		kind, value = "regex", p.SafeRegex.GetRegex()
	case *envoypb.StringMatcher_Custom:
		kind = "custom"
	}
	if err := capped(name, value, maxValue); err != nil {
		return 0, "", err
	}
	if (kind == "prefix" || kind == "suffix" || kind == "contains") && !nonEmpty(value) {
		return 0, "", invalid(name, "prefix, suffix and contains must not be empty")
	}
	if s.GetIgnoreCase() {
		return 0, "", unsupported(name+".ignore_case", "case-insensitive matching")
	}
	switch kind {
	case "exact":
		return route.MatchExact, value, nil
	case "regex":
		return route.MatchRegex, value, nil
	}
	return 0, "", unsupported(name, "%s matching", kind)
}
