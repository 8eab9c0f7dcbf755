package authz

// Evaluate decides r. Every filter runs in order: a DENY filter refuses a
// request one of its policies matches; an ALLOW filter refuses one none of
// its policies matches. It does not allocate.
func (t *Table) Evaluate(r *Request) Decision {
	d := Decision{Allowed: true}
	if t == nil {
		return d
	}
	for i := range t.filters {
		f := &t.filters[i]
		name, matched := f.match(r)
		if f.action == Deny && !matched && r.ParamlessPath != nil {
			full := r.Path
			r.Path = r.ParamlessPath
			name, matched = f.match(r)
			r.Path = full
		}
		switch {
		case f.action == Deny && matched:
			return Decision{Policy: name, Action: Deny}
		case f.action == Allow && !matched:
			return Decision{Policy: NoPolicy, Action: Allow}
		case f.action == Allow:
			d = Decision{Allowed: true, Policy: name, Action: Allow}
		}
	}
	return d
}

func (f *cfilter) match(r *Request) (string, bool) {
	for i := range f.policies {
		p := &f.policies[i]
		if p.matches(r) {
			return p.name, true
		}
	}
	return "", false
}

func (p *cpolicy) matches(r *Request) bool {
	ok := false
	for i := range p.princ {
		if p.princ[i].matches(r) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for i := range p.perms {
		if p.perms[i].matches(r) {
			return true
		}
	}
	return false
}

func (p *cperm) matches(r *Request) bool {
	switch {
	case p.any:
		return true
	case p.and != nil:
		for i := range p.and {
			if !p.and[i].matches(r) {
				return false
			}
		}
		return true
	case p.or != nil:
		for i := range p.or {
			if p.or[i].matches(r) {
				return true
			}
		}
		return false
	case p.not != nil:
		return !p.not.matches(r)
	case p.header != nil:
		return p.header.matches(r)
	case p.path != nil:
		return p.path.matches(r.Path)
	case p.portMatch:
		return r.Port == p.port
	}
	return false
}

func (p *cprinc) matches(r *Request) bool {
	switch {
	case p.any:
		return true
	case p.and != nil:
		for i := range p.and {
			if !p.and[i].matches(r) {
				return false
			}
		}
		return true
	case p.or != nil:
		for i := range p.or {
			if p.or[i].matches(r) {
				return true
			}
		}
		return false
	case p.not != nil:
		return !p.not.matches(r)
	case p.authn:
		if r.Peer == "" {
			return false
		}
		return p.name == nil || p.name.matchesString(r.Peer)
	}
	return false
}

func (h *cheader) matches(r *Request) bool {
	var v []byte
	var ok bool
	switch h.kind {
	case headerMethod:
		v, ok = r.Method, len(r.Method) > 0
	case headerAuthority:
		v, ok = r.Host, len(r.Host) > 0
	default:
		if r.Headers != nil {
			v, ok = r.Headers.Get(h.name)
		}
	}
	var m bool
	if h.match == nil {
		m = ok
	} else {
		m = ok && h.match.matches(v)
	}
	return m != h.invert
}

func (m *cmatch) matches(v []byte) bool {
	if m.re != nil {
		return m.re.Match(v)
	}
	n := len(m.value)
	switch m.kind {
	case Exact:
		return len(v) == n && eq(v, m.value, m.fold)
	case Prefix:
		return len(v) >= n && eq(v[:n], m.value, m.fold)
	case Suffix:
		return len(v) >= n && eq(v[len(v)-n:], m.value, m.fold)
	case Contains:
		for i := 0; i+n <= len(v); i++ {
			if eq(v[i:i+n], m.value, m.fold) {
				return true
			}
		}
	}
	return false
}

// matchesString is matches on a string, without converting it.
func (m *cmatch) matchesString(s string) bool {
	if m.re != nil {
		return m.re.MatchString(s)
	}
	n := len(m.value)
	switch m.kind {
	case Exact:
		return len(s) == n && eqString(s, m.value, m.fold)
	case Prefix:
		return len(s) >= n && eqString(s[:n], m.value, m.fold)
	case Suffix:
		return len(s) >= n && eqString(s[len(s)-n:], m.value, m.fold)
	case Contains:
		for i := 0; i+n <= len(s); i++ {
			if eqString(s[i:i+n], m.value, m.fold) {
				return true
			}
		}
	}
	return false
}

// eq compares v with want (already lowercase when fold) of equal length.
func eq(v []byte, want string, fold bool) bool {
	if !fold {
		return string(v) == want
	}
	for i := range len(v) {
		if lower(v[i]) != want[i] {
			return false
		}
	}
	return true
}

func eqString(v, want string, fold bool) bool {
	if !fold {
		return v == want
	}
	for i := range len(v) {
		if lower(v[i]) != want[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// StripParams appends path without the ";parameters" of its segments to
// dst ("/admin;x=1/a;b" gives "/admin/a"), or returns nil when path has
// no ';'.
func StripParams(dst, path []byte) []byte {
	semi := false
	for _, c := range path {
		if c == ';' {
			semi = true
			break
		}
	}
	if !semi {
		return nil
	}
	skip := false
	for _, c := range path {
		switch {
		case c == '/':
			skip = false
		case c == ';':
			skip = true
		}
		if !skip {
			dst = append(dst, c)
		}
	}
	return dst
}
