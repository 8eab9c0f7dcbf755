package route

import "bytes"

// Lookup returns the first route matching the request, or nil. host must come
// from NormalizeHost and path from NormalizePath, so routing, authorization and
// forwarding all read the same view. It does not allocate.
func (t *Table) Lookup(host, method, path, query []byte, h Headers) *Route {
	vh := t.vhostFor(host)
	if vh == nil {
		return nil
	}
	for i := range vh.routes {
		c := &vh.routes[i]
		if c.matches(method, path, query, h) {
			return c.route
		}
	}
	return nil
}

// VirtualHost returns the name of the virtual host serving host, or "".
func (t *Table) VirtualHost(host []byte) string {
	if vh := t.vhostFor(host); vh != nil {
		return vh.name
	}
	return ""
}

func (t *Table) vhostFor(host []byte) *vhost {
	if vh, ok := t.exact[string(host)]; ok {
		return vh
	}
	for _, w := range t.wildcards {
		if len(host) > len(w.suffix) && bytes.HasSuffix(host, []byte(w.suffix)) {
			return w.vh
		}
	}
	return t.any
}

func (c *compiled) matches(method, path, query []byte, h Headers) bool {
	if c.method != "" && string(method) != c.method {
		return false
	}
	switch c.path.Kind {
	case PathExact:
		if c.path.Value != "" && string(path) != c.path.Value {
			return false
		}
	case PathRegex:
		if !c.pathRE.Match(path) {
			return false
		}
	default:
		if !prefixMatch(path, c.path.Value) {
			return false
		}
	}
	for i := range c.headers {
		kv := &c.headers[i]
		v, ok := h.Get(kv.name)
		if kv.match(v, ok) == kv.invert {
			return false
		}
	}
	for i := range c.query {
		kv := &c.query[i]
		v, ok := queryValue(query, kv.name)
		if !kv.match(v, ok) {
			return false
		}
	}
	return true
}

// prefixMatch is Gateway API's PathPrefix: element-wise, so "/api" matches
// "/api" and "/api/x" but not "/apix".
func prefixMatch(path []byte, prefix string) bool {
	if prefix == "" || prefix == "/" {
		return true
	}
	prefix = trimSlash(prefix)
	if len(path) < len(prefix) || string(path[:len(prefix)]) != prefix {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

func trimSlash(s string) string {
	for len(s) > 1 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func (kv *compiledKV) match(v []byte, ok bool) bool {
	if !ok {
		return false
	}
	switch kv.kind {
	case MatchPresent:
		return true
	case MatchRegex:
		return kv.re.Match(v)
	}
	return string(v) == kv.value
}

// queryValue finds the first raw (still percent-encoded) value of name.
func queryValue(q []byte, name string) ([]byte, bool) {
	for len(q) > 0 {
		var pair []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, nil
		}
		k, v := pair, []byte(nil)
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			k, v = pair[:i], pair[i+1:]
		}
		if string(k) == name {
			return v, true
		}
	}
	return nil, false
}

// PickBackend chooses a cluster name by weight; rnd is a uniformly random
// number supplied by the caller (a per-connection fast RNG).
func (r *Route) PickBackend(rnd uint64) string {
	switch len(r.Backends) {
	case 0:
		return ""
	case 1:
		return r.Backends[0].Cluster
	}
	total := r.cum[len(r.cum)-1]
	if total == 0 {
		return r.Backends[0].Cluster
	}
	x := rnd % total
	for i, c := range r.cum {
		if x < c {
			return r.Backends[i].Cluster
		}
	}
	return r.Backends[len(r.Backends)-1].Cluster
}
