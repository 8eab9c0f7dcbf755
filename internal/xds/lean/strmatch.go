package lean

import (
	"fmt"
	"regexp/syntax"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// regexMatcher is a type.matcher.v3.RegexMatcher (regex 2; the engine
// google_re2 1 is skipped). Its engine is RE2, whose syntax Go's regexp
// implements.
type regexMatcher struct{ regex string }

func (r *regexMatcher) merge(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		if f.is(2, bytesT) {
			r.regex, err = str(f, "regex", maxRegex)
		}
		return err
	})
}

// check is Envoy's rule (a non-empty regex), then a parse, so a regex
// neither RE2 nor the proxy can run is NACKed at decode time. Parsing, not
// compiling: a parse allocates in proportion to the regex's length, while
// a compile expands repetitions (a few bytes like \pL{1000} become
// megabytes), and the proxy compiles each regex once anyway, when it
// builds its route table. The regex is parsed alone, not anchored as the
// proxy anchors it, since "a)(b" only parses anchored and RE2 rejects it.
func (r *regexMatcher) check(name string) error {
	if !nonEmpty(r.regex) {
		return invalid(name+".regex", "must not be empty")
	}
	if _, err := syntax.Parse(r.regex, syntax.Perl); err != nil {
		return stricter(name+".regex", "%v", err)
	}
	return nil
}

// stringMatcher is a type.matcher.v3.StringMatcher. Its pattern is one of
// exact 1, prefix 2, suffix 3, safe_regex 5, contains 7, custom 8; and
// ignore_case 6.
type stringMatcher struct {
	kind       int
	value      string
	regex      regexMatcher
	ignoreCase bool
}

func (s *stringMatcher) merge(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch {
		case f.typ == bytesT && (f.num == 1 || f.num == 2 || f.num == 3 || f.num == 7):
			s.kind = int(f.num)
			s.value, err = str(f, "string_match", maxValue)
		case f.is(5, bytesT):
			if s.kind != 5 {
				s.regex = regexMatcher{}
			}
			s.kind = 5
			err = s.regex.merge(f.b)
		case f.is(8, bytesT):
			s.kind = 8
		case f.is(6, varintT):
			s.ignoreCase = f.u != 0
		}
		return err
	})
}

// toProxy checks Envoy's rules, then maps the two kinds the proxy has.
// client.ToProxy reads any other kind as an exact match on "", and ignores
// ignore_case; both would match the wrong requests, so they are refused.
func (s *stringMatcher) toProxy(name string) (route.StringMatchKind, string, error) {
	switch s.kind {
	case 0:
		return 0, "", invalid(name, "a match pattern is required")
	case 2, 3, 7:
		if !nonEmpty(s.value) {
			return 0, "", invalid(name, "prefix, suffix and contains must not be empty")
		}
	case 5:
		if err := s.regex.check(name + ".safe_regex"); err != nil {
			return 0, "", err
		}
	}
	if s.ignoreCase {
		return 0, "", unsupported(name+".ignore_case", "case-insensitive matching")
	}
	switch s.kind {
	case 1:
		return route.MatchExact, s.value, nil
	case 5:
		return route.MatchRegex, s.regex.regex, nil
	}
	return 0, "", unsupported(name, "%s matching", kindName(s.kind))
}

func kindName(kind int) string {
	switch kind {
	case 2:
		return "prefix"
	case 3:
		return "suffix"
	case 7:
		return "contains"
	case 8:
		return "custom"
	}
	return fmt.Sprintf("kind %d", kind)
}
