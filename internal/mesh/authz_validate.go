package mesh

import (
	"regexp"
	"strings"
)

var (
	methodRE = regexp.MustCompile(`^[A-Z]{1,20}$`)
	// headerKeyRE is Istio's request.headers[NAME] condition key.
	headerKeyRE = regexp.MustCompile(`^request\.headers\[([!#$%&'*+.^_` + "`" + `|~0-9A-Za-z-]{1,256})\]$`)
	// principalRE is the shape of a SPIFFE ID (or a part of one) in a
	// principal: no spaces, controls or characters a URI would escape.
	principalRE = regexp.MustCompile(`^[A-Za-z0-9._~:/@!$&'()+,;=-]+$`)
)

// HeaderConditionName returns NAME from a request.headers[NAME] key.
func HeaderConditionName(key string) (string, bool) {
	m := headerKeyRE.FindStringSubmatch(key)
	if m == nil {
		return "", false
	}
	return strings.ToLower(m[1]), true
}

func validateAuthzRule(v *errs, p string, r *AuthorizationRule) {
	capList(v, p+".from", len(r.From))
	for i := range r.From {
		fp := field(p+".from", i) + ".source"
		src := &r.From[i].Source
		if len(src.Principals) == 0 && len(src.Namespaces) == 0 {
			v.add(fp, "set principals or namespaces (omit from to match any caller)")
		}
		capList(v, fp+".principals", len(src.Principals))
		for j, pr := range src.Principals {
			checkPrincipal(v, field(fp+".principals", j), pr)
		}
		capList(v, fp+".namespaces", len(src.Namespaces))
		for j, ns := range src.Namespaces {
			if !dnsLabel(ns) {
				v.add(field(fp+".namespaces", j), "must be a namespace (a DNS-1123 label); got %q", ns)
			}
		}
	}
	capList(v, p+".to", len(r.To))
	for i := range r.To {
		op := &r.To[i].Operation
		tp := field(p+".to", i) + ".operation"
		if len(op.Hosts)+len(op.Methods)+len(op.Paths)+len(op.Ports) == 0 {
			v.add(tp, "set hosts, methods, paths or ports (omit to to match any operation)")
		}
		capList(v, tp+".hosts", len(op.Hosts))
		for j, h := range op.Hosts {
			if h != strings.ToLower(h) || !dnsName(h) {
				v.add(field(tp+".hosts", j), "must be a lowercase host name, optionally starting with \"*.\"; got %q", h)
			}
		}
		capList(v, tp+".methods", len(op.Methods))
		for j, m := range op.Methods {
			if !methodRE.MatchString(m) {
				v.add(field(tp+".methods", j), "must be an HTTP method in upper case such as GET; got %q", m)
			}
		}
		capList(v, tp+".paths", len(op.Paths))
		for j, pa := range op.Paths {
			checkAuthzPath(v, field(tp+".paths", j), pa)
		}
		capList(v, tp+".ports", len(op.Ports))
		for j, port := range op.Ports {
			checkPort(v, field(tp+".ports", j), port)
		}
	}
	capList(v, p+".when", len(r.When))
	for i, c := range r.When {
		cp := field(p+".when", i)
		if _, ok := HeaderConditionName(c.Key); !ok {
			v.add(cp+".key", "must be request.headers[NAME]; got %q", c.Key)
		}
		if len(c.Values) == 0 {
			v.add(cp+".values", "at least one value is required")
		}
		capList(v, cp+".values", len(c.Values))
		for j, val := range c.Values {
			if val == "" || strings.ContainsAny(val, "\x00\r\n") || strings.Count(val, "*") > 1 ||
				(strings.Contains(val, "*") && val != "*" && !strings.HasPrefix(val, "*") && !strings.HasSuffix(val, "*")) {
				v.add(field(cp+".values", j), "must be a non-empty value, a prefix ending in \"*\", a suffix starting with \"*\", or \"*\"; got %q", val)
			}
		}
	}
}

func capList(v *errs, p string, n int) {
	if n > maxAuthzRules {
		v.add(p, "at most %d entries; got %d", maxAuthzRules, n)
	}
}

// checkPrincipal accepts an exact SPIFFE ID, a prefix ending in "*", a
// suffix starting with "*", or "*".
func checkPrincipal(v *errs, p, s string) {
	if s == "*" {
		return
	}
	core := strings.TrimSuffix(strings.TrimPrefix(s, "*"), "*")
	if strings.HasPrefix(s, "*") && strings.HasSuffix(s, "*") || core == "" || len(core) > 2048 || !principalRE.MatchString(core) || strings.Contains(core, "*") {
		v.add(p, "must be a SPIFFE ID (spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT), a prefix of one ending in \"*\", a suffix starting with \"*\", or \"*\"; got %q", s)
		return
	}
	if !strings.HasPrefix(s, "*") && strings.Contains(core, "://") && !strings.HasPrefix(core, "spiffe://") {
		v.add(p, "must use the spiffe:// scheme; got %q", s)
	}
}

// PrincipalID completes a principal to the spiffe:// form the certificate
// carries: Istio's "TRUST_DOMAIN/ns/..." gains the scheme; a suffix
// pattern ("*/sa/web") and "*" are unchanged.
func PrincipalID(s string) string {
	if s == "*" || strings.HasPrefix(s, "*") || strings.HasPrefix(s, "spiffe://") {
		return s
	}
	return "spiffe://" + s
}

// checkAuthzPath accepts "*", "*SUFFIX", or an absolute path (optionally
// ending in "*") already in the normal form requests are compared in:
// one that NormalizePath would leave unchanged, so a rule can never name
// a path no request has.
func checkAuthzPath(v *errs, p, s string) {
	if s == "*" {
		return
	}
	body := s
	if strings.HasPrefix(s, "*") {
		body = s[1:]
	} else {
		body = strings.TrimSuffix(s, "*")
		if !strings.HasPrefix(body, "/") {
			v.add(p, "must start with \"/\" (or be \"*\" or \"*SUFFIX\"); got %q", s)
			return
		}
	}
	if body == "" || strings.Contains(body, "*") {
		v.add(p, "must be a path, a prefix ending in \"*\", a suffix starting with \"*\", or \"*\"; got %q", s)
		return
	}
	if !normalPath(body, !strings.HasPrefix(s, "*")) {
		v.add(p, "must be in normal form (no \"//\", \".\" or \"..\" segments, query, fragment, or encoding of a letter, digit, '-', '.', '_' or '~'; hex digits in upper case); got %q", s)
	}
}

// normalPath reports whether s is already normalised: the bytes allowed
// raw in a path, percent-encodings only of other bytes (upper-case hex),
// and, when whole, no empty, "." or ".." segment.
func normalPath(s string, whole bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !upperHexDigit(s[i+1]) || !upperHexDigit(s[i+2]) {
				return false
			}
			d := hexVal(s[i+1])<<4 | hexVal(s[i+2])
			if unreservedByte(d) || d == '/' || d == '\\' || d < 0x20 || d == 0x7f {
				return false
			}
			i += 2
		case unreservedByte(c) || strings.IndexByte("/:@!$&'()*+,;=", c) >= 0:
		default:
			return false
		}
	}
	if !whole {
		return true
	}
	segs := strings.Split(s[1:], "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." || seg == "" && i < len(segs)-1 {
			return false
		}
	}
	return true
}

func upperHexDigit(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func hexVal(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

func unreservedByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
