package h1

import "bufio"

// Response is a parsed response head; slices point into Head.
type Response struct {
	Head    []byte
	Line    []byte // status line without CRLF
	Minor   int
	Status  int
	Headers []Header

	ContentLength int64 // -1 when absent
	Chunked       bool
	Close         bool // the upstream will close after this response
	ConnTokens    [][]byte
}

// Read reads a response head. method is the request's, because a response
// to HEAD (and 1xx, 204, 304) has no body whatever its headers say.
func (r *Response) Read(br *bufio.Reader, lim Limits) error {
	lim.defaults()
	head, err := readHead(br, r.Head, lim.MaxHeaderBytes)
	r.Head = head
	if err != nil {
		if err == ErrBadRequest {
			return ErrBadResponse
		}
		return err
	}
	line, rest := nextLine(head)
	r.Line = line
	// "HTTP/1.1 200 OK": version, space, three digits, then space or end.
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return ErrBadResponse
	}
	switch line[7] {
	case '0':
		r.Minor = 0
	case '1':
		r.Minor = 1
	default:
		return ErrBadResponse
	}
	r.Status = 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return ErrBadResponse
		}
		r.Status = r.Status*10 + int(c-'0')
	}
	if r.Status < 100 {
		return ErrBadResponse
	}
	if r.Headers, err = parseFields(rest, r.Headers[:0], lim.MaxHeaders); err != nil {
		return ErrBadResponse
	}
	r.ContentLength, r.Chunked, r.Close = -1, false, r.Minor == 0
	r.ConnTokens = r.ConnTokens[:0]
	tes := 0
	for _, h := range r.Headers {
		switch {
		case EqualFold(h.Name, "content-length"):
			n, ok := parseLength(h.Value)
			if !ok || r.ContentLength >= 0 && r.ContentLength != n {
				return ErrBadResponse
			}
			r.ContentLength = n
		case EqualFold(h.Name, "transfer-encoding"):
			tes++
			if !EqualFold(h.Value, "chunked") {
				return ErrBadResponse
			}
			r.Chunked = true
		case EqualFold(h.Name, "connection"):
			for tok := range tokens(h.Value) {
				if EqualFold(tok, "close") {
					r.Close = true
				} else if EqualFold(tok, "keep-alive") && r.Minor == 0 {
					r.Close = false
				}
				r.ConnTokens = append(r.ConnTokens, tok)
			}
		}
	}
	if tes > 1 || r.Chunked && r.ContentLength >= 0 {
		return ErrBadResponse
	}
	return nil
}

// BodyFramed reports whether a body follows and how it is delimited:
// none, Content-Length, chunked, or until the upstream closes.
func (r *Response) BodyFramed(method []byte) (hasBody, untilClose bool) {
	if r.Status < 200 || r.Status == 204 || r.Status == 304 || string(method) == "HEAD" {
		return false, false
	}
	if r.Chunked || r.ContentLength > 0 {
		return true, false
	}
	if r.ContentLength == 0 {
		return false, false
	}
	return true, true
}
