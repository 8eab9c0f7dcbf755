package h1

import "bufio"

// Request is a parsed request head. Its slices point into Head and stay
// valid until the next Read. Reuse one Request per connection.
type Request struct {
	Head    []byte
	Method  []byte
	Target  []byte // as received
	Minor   int    // HTTP/1.Minor
	Headers []Header

	// Authority is the request's host: from an absolute-form or
	// authority-form target when present (RFC 9112 §3.2.2), else Host.
	Authority []byte
	// Path is the origin-form part of the target ("/" for authority-form
	// and asterisk-form).
	Path []byte
	// AbsoluteForm is set when the target carried a scheme and authority.
	AbsoluteForm bool

	ContentLength  int64 // -1 when absent
	Chunked        bool
	Close          bool // the client asked to close after this exchange
	ExpectContinue bool
	// Upgrade holds the Upgrade value when the client asked for a protocol
	// switch the proxy honours (not h2c, which is never honoured).
	Upgrade []byte
	// ConnTokens are the names listed in Connection headers.
	ConnTokens [][]byte
}

// IsConnect reports whether this is a CONNECT request.
func (r *Request) IsConnect() bool { return string(r.Method) == "CONNECT" }

// HasBody reports whether a body follows the head.
func (r *Request) HasBody() bool { return r.Chunked || r.ContentLength > 0 }

// Read reads and validates the next request head.
func (r *Request) Read(br *bufio.Reader, lim Limits) error {
	lim.defaults()
	if err := skipEmptyLines(br); err != nil {
		r.Head = r.Head[:0]
		return err
	}
	head, err := readHead(br, r.Head, lim.MaxHeaderBytes)
	r.Head = head
	if err != nil {
		return err
	}
	line, rest := nextLine(head)
	if len(line) > lim.MaxLineBytes {
		return ErrURITooLong
	}
	if err := r.parseLine(line); err != nil {
		return err
	}
	r.Headers, err = parseFields(rest, r.Headers[:0], lim.MaxHeaders)
	if err != nil {
		return err
	}
	return r.interpret()
}

func (r *Request) parseLine(line []byte) error {
	sp1 := indexByte(line, ' ')
	if sp1 <= 0 {
		return ErrBadRequest
	}
	r.Method = line[:sp1]
	if !isToken(r.Method) {
		return ErrBadRequest
	}
	rest := line[sp1+1:]
	sp2 := indexByte(rest, ' ')
	if sp2 <= 0 {
		return ErrBadRequest
	}
	r.Target = rest[:sp2]
	for _, c := range r.Target {
		if c <= ' ' || c == 0x7f {
			return ErrBadRequest
		}
	}
	switch string(rest[sp2+1:]) {
	case "HTTP/1.1":
		r.Minor = 1
	case "HTTP/1.0":
		r.Minor = 0
	default:
		if len(rest[sp2+1:]) == 8 && string(rest[sp2+1:sp2+6]) == "HTTP/" {
			return ErrVersion
		}
		return ErrBadRequest
	}
	return nil
}

func (r *Request) interpret() error {
	r.ContentLength = -1
	r.Chunked, r.Close, r.ExpectContinue = false, r.Minor == 0, false
	r.Upgrade, r.Authority, r.AbsoluteForm = nil, nil, false
	r.ConnTokens = r.ConnTokens[:0]
	var host []byte
	hosts, tes := 0, 0
	keepAlive10 := false
	for _, h := range r.Headers {
		switch {
		case EqualFold(h.Name, "host"):
			hosts++
			host = h.Value
		case EqualFold(h.Name, "content-length"):
			n, ok := parseLength(h.Value)
			if !ok || r.ContentLength >= 0 {
				return ErrBadFraming // invalid, or a second Content-Length
			}
			r.ContentLength = n
		case EqualFold(h.Name, "transfer-encoding"):
			tes++
			if !EqualFold(h.Value, "chunked") {
				return ErrBadFraming // "xchunked", "chunked, identity", gzip...
			}
			r.Chunked = true
		case EqualFold(h.Name, "connection"):
			for tok := range tokens(h.Value) {
				switch {
				case EqualFold(tok, "close"):
					r.Close = true
				case EqualFold(tok, "keep-alive"):
					keepAlive10 = true
				}
				r.ConnTokens = append(r.ConnTokens, tok)
			}
		case EqualFold(h.Name, "expect"):
			if EqualFold(h.Value, "100-continue") {
				r.ExpectContinue = true
			}
		case EqualFold(h.Name, "upgrade"):
			r.Upgrade = h.Value
		}
	}
	if tes > 1 || r.Chunked && (r.ContentLength >= 0 || r.Minor == 0) {
		// CL.TE and TE.CL smuggling, and chunked in HTTP/1.0 (RFC 9112 §6.1).
		return ErrBadFraming
	}
	if r.Minor == 0 && keepAlive10 && !r.hasToken("close") {
		r.Close = false
	}
	if hosts > 1 || r.Minor == 1 && hosts == 0 {
		return ErrBadRequest
	}
	if r.Upgrade != nil && (!r.hasToken("upgrade") || containsFold(r.Upgrade, "h2c")) {
		// Never switch to h2c from cleartext HTTP/1 (CVE-2022-41721): the
		// header is dropped and the request proceeds as plain HTTP/1.1.
		r.Upgrade = nil
	}
	return r.resolveTarget(host)
}

func (r *Request) hasToken(s string) bool {
	for _, t := range r.ConnTokens {
		if EqualFold(t, s) {
			return true
		}
	}
	return false
}

// resolveTarget sets Authority and Path from the target's form.
func (r *Request) resolveTarget(host []byte) error {
	t := r.Target
	switch {
	case r.IsConnect():
		// authority-form: host:port, nothing else.
		if len(t) == 0 || t[0] == '/' || indexByte(t, '/') >= 0 || indexByte(t, '@') >= 0 {
			return ErrBadRequest
		}
		r.Authority, r.Path = t, slash
	case len(t) > 0 && t[0] == '/':
		r.Authority, r.Path = host, t
	case len(t) == 1 && t[0] == '*':
		if string(r.Method) != "OPTIONS" {
			return ErrBadRequest
		}
		r.Authority, r.Path = host, slash
	default:
		var rest []byte
		switch {
		case hasPrefixFold(t, "http://"):
			rest = t[7:]
		case hasPrefixFold(t, "https://"):
			rest = t[8:]
		default:
			return ErrBadRequest
		}
		end := len(rest)
		for i, c := range rest {
			if c == '/' || c == '?' {
				end = i
				break
			}
		}
		auth := rest[:end]
		if len(auth) == 0 || indexByte(auth, '@') >= 0 {
			return ErrBadRequest // userinfo is never sent to a proxy in the mesh
		}
		r.Authority, r.AbsoluteForm = auth, true
		r.Path = rest[end:]
		if len(r.Path) == 0 {
			r.Path = slash
		} else if r.Path[0] == '?' {
			return ErrBadRequest // "http://h?q": no path; reject rather than guess
		}
	}
	if !validAuthority(r.Authority) || host != nil && !validAuthority(host) {
		return ErrBadRequest
	}
	return nil
}

// validAuthority accepts host[:port] where host is a reg-name or a
// bracketed IP literal and port is digits; anything else cannot name a
// mesh service.
func validAuthority(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	host, port := b, []byte(nil)
	if len(b) > 0 && b[0] == '[' {
		end := indexByte(b, ']')
		if end < 0 {
			return false
		}
		for _, c := range b[1:end] {
			if !(c == ':' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
		host, port = nil, b[end+1:]
	} else if i := indexByte(b, ':'); i >= 0 {
		host, port = b[:i], b[i:]
	}
	if host != nil {
		if len(host) == 0 {
			return false
		}
		for _, c := range host {
			if !authorityTable[c] {
				return false
			}
		}
	}
	if len(port) > 0 {
		if port[0] != ':' || len(port) > 6 {
			return false
		}
		for _, c := range port[1:] {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

var authorityTable = func() (t [256]bool) {
	for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=" {
		t[c] = true
	}
	return
}()

var slash = []byte("/")

// tokens yields the comma-separated, OWS-trimmed, non-empty list elements.
func tokens(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			i := indexByte(v, ',')
			var t []byte
			if i < 0 {
				t, v = v, nil
			} else {
				t, v = v[:i], v[i+1:]
			}
			for len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
				t = t[1:]
			}
			for len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
				t = t[:len(t)-1]
			}
			if len(t) > 0 && !yield(t) {
				return
			}
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func hasPrefixFold(b []byte, p string) bool {
	return len(b) >= len(p) && EqualFold(b[:len(p)], p)
}

func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if EqualFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}
