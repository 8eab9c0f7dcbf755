package route

import "errors"

// Errors from the normalisers. The proxy answers 400 to any of them.
var (
	ErrBadHost = errors.New("route: invalid host")
	ErrBadPath = errors.New("route: invalid path")
)

// NormalizeHost appends the canonical form of an authority to dst: lowercase,
// no port, no trailing dot. IPv6 literals keep their brackets. Routing and
// every policy compare hosts in this form only (CVE-2021-39155 class).
func NormalizeHost(dst, host []byte) ([]byte, error) {
	if len(host) == 0 {
		return dst, ErrBadHost
	}
	if host[0] == '[' {
		end := -1
		for i, c := range host {
			if c == ']' {
				end = i
				break
			}
		}
		if end < 0 || !validPort(host[end+1:]) {
			return dst, ErrBadHost
		}
		for _, c := range host[1:end] {
			if !(isHex(c) || c == ':' || c == '.') {
				return dst, ErrBadHost
			}
		}
		return appendLower(dst, host[:end+1]), nil
	}
	name := host
	for i, c := range host {
		if c == ':' {
			name = host[:i]
			if !validPort(host[i:]) {
				return dst, ErrBadHost
			}
			break
		}
	}
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	// One trailing dot is the root label; a second ("a..", "..") would
	// survive as a dot and normalise differently the next time.
	if len(name) == 0 || len(name) > 253 || name[len(name)-1] == '.' {
		return dst, ErrBadHost
	}
	for _, c := range name {
		if !hostChar(c) {
			return dst, ErrBadHost
		}
	}
	return appendLower(dst, name), nil
}

// validPort accepts "" or ":digits" (":" alone too, as RFC 3986 allows).
func validPort(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if p[0] != ':' || len(p) > 6 {
		return false
	}
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// hostChar is a reg-name character (RFC 3986 unreserved or sub-delims), minus
// the sub-delims no real host uses.
func hostChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func appendLower(dst, s []byte) []byte {
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// pathChar is a pchar or "/" (RFC 3986), the bytes allowed raw in a path.
func pathChar(c byte) bool {
	if unreserved(c) {
		return true
	}
	switch c {
	case '/', ':', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}

// NormalizePath splits an origin-form request target into its canonical
// path and raw query, appending the path to dst. It decodes percent-encoded
// unreserved bytes, merges slashes and removes dot segments, and it rejects
// fragments, control bytes and encoded '/', '\' or NUL, whose meaning differs
// between proxies and apps (CVE-2019-9901, CVE-2021-29492 class). The result
// is the one view of the path that routing, policy and forwarding share.
func NormalizePath(dst, target []byte) (path, query []byte, err error) {
	if len(target) == 0 || target[0] != '/' {
		return dst, nil, ErrBadPath
	}
	raw := target
	for i, c := range target {
		if c == '?' {
			raw, query = target[:i], target[i+1:]
			break
		}
	}
	for _, c := range query {
		if c <= ' ' || c == 0x7f || c == '#' {
			return dst, nil, ErrBadPath
		}
	}
	start := len(dst)
	// Segment by segment: decode, then apply dot-segment removal on the
	// output so "/%2e%2e/" is treated as "/../" (it is one to the app).
	i := 0
	for i < len(raw) {
		// raw[i] == '/': skip repeated slashes.
		for i < len(raw) && raw[i] == '/' {
			i++
		}
		segStart := len(dst)
		dst = append(dst, '/')
		for i < len(raw) && raw[i] != '/' {
			c := raw[i]
			switch {
			case c == '%':
				if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
					return dst[:start], nil, ErrBadPath
				}
				d := unhex(raw[i+1])<<4 | unhex(raw[i+2])
				if unreserved(d) {
					dst = append(dst, d)
				} else if d == '/' || d == '\\' || d < 0x20 || d == 0x7f {
					return dst[:start], nil, ErrBadPath
				} else {
					dst = append(dst, '%', upperHex(raw[i+1]), upperHex(raw[i+2]))
				}
				i += 3
				continue
			case pathChar(c):
				dst = append(dst, c)
			default:
				// '#', '\', space, CTLs, non-ASCII: not valid in a request target.
				return dst[:start], nil, ErrBadPath
			}
			i++
		}
		seg := dst[segStart+1:]
		dotSeg := false
		switch {
		case len(seg) == 1 && seg[0] == '.':
			dst = dst[:segStart]
			dotSeg = true
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			dotSeg = true
			dst = dst[:segStart]
			// Drop the previous segment, never above the root.
			for len(dst) > start && dst[len(dst)-1] != '/' {
				dst = dst[:len(dst)-1]
			}
			if len(dst) > start {
				dst = dst[:len(dst)-1]
			}
		}
		// A trailing ".." or "." leaves the path ending in "/", as RFC 3986 does.
		if i == len(raw) && dotSeg && (len(dst) == start || dst[len(dst)-1] != '/') {
			dst = append(dst, '/')
		}
	}
	if len(dst) == start {
		dst = append(dst, '/')
	}
	return dst, query, nil
}

func upperHex(c byte) byte {
	if c >= 'a' && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}
