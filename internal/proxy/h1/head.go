// Package h1 is Weft's HTTP/1.1 codec: a strict, allocation-free parser for
// request and response heads and a chunked-body relay. It works on byte
// slices over a bufio.Reader and keeps header names exactly as received.
//
// Strictness is the point: every ambiguity that a proxy and an app could
// resolve differently (CL+TE, duplicate lengths, obs-fold, bare LF, NUL) is
// an error, so the proxy answers 400 and closes instead of repairing it
// (RFC 9112 §6.1, §5.2; RELIABILITY.md rows 1-4, 7, 17).
package h1

import (
	"bufio"
	"errors"
)

// Errors. Each maps to the status the proxy answers with (see Status).
var (
	ErrBadRequest     = errors.New("h1: malformed request")
	ErrHeaderTooLarge = errors.New("h1: header section too large")
	ErrTooManyHeaders = errors.New("h1: too many header fields")
	ErrURITooLong     = errors.New("h1: request line too long")
	ErrBadFraming     = errors.New("h1: ambiguous or invalid message framing")
	ErrBadChunk       = errors.New("h1: malformed chunked body")
	ErrBadResponse    = errors.New("h1: malformed response")
	ErrVersion        = errors.New("h1: unsupported HTTP version")
)

// Status is the response status for a parse error.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrHeaderTooLarge), errors.Is(err, ErrTooManyHeaders):
		return 431
	case errors.Is(err, ErrURITooLong):
		return 414
	case errors.Is(err, ErrVersion):
		return 505
	}
	return 400
}

// Limits caps what a head may hold. Zero values mean the defaults.
type Limits struct {
	MaxHeaderBytes int // whole head, request line included; default 32 KiB
	MaxHeaders     int // header fields; default 100
	MaxLineBytes   int // request line; default 8 KiB
}

func (l *Limits) defaults() {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 32 << 10
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = 100
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = 8 << 10
	}
}

// Header is one field, slices into the head buffer, name case as received.
type Header struct {
	Name, Value []byte
}

// MaxLeadingEmptyLines is how many empty lines (CRLF, or a bare LF) may
// precede a request line: RFC 9112 §2.2 asks a server to ignore at least
// one. One more is a malformed request, so a stream of empty lines cannot
// hold a connection without ever counting against the head's byte cap.
const MaxLeadingEmptyLines = 8

// skipEmptyLines consumes the empty lines before a request line, at most
// MaxLeadingEmptyLines of them. The protocol sniffer counts them the same
// way, so a request gets the same checks with or without them.
func skipEmptyLines(r *bufio.Reader) error {
	for i := 0; ; i++ {
		b, err := r.Peek(1)
		if err != nil {
			return err
		}
		n := 1
		switch b[0] {
		case '\n':
		case '\r':
			if b, err = r.Peek(2); err != nil {
				return err
			}
			if b[1] != '\n' {
				return nil
			}
			n = 2
		default:
			return nil
		}
		if i == MaxLeadingEmptyLines {
			return ErrBadRequest
		}
		r.Discard(n)
	}
}

// readHead reads a head (up to and including the empty line) into buf,
// enforcing the byte cap, and returns buf holding exactly the head. Lines
// must end in CRLF; a bare LF is an error (CVE-2025-22871 class).
func readHead(r *bufio.Reader, buf []byte, max int) ([]byte, error) {
	buf = buf[:0]
	lineStart, empty := 0, 0
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > max {
			return buf, ErrHeaderTooLarge
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return buf, err
		}
		line := buf[lineStart:]
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return buf, ErrBadRequest
		}
		if len(line) == 2 {
			if lineStart == 0 {
				// Requests skip theirs first (skipEmptyLines); a response
				// gets the same allowance, with the same cap.
				if empty++; empty > MaxLeadingEmptyLines {
					return buf, ErrBadRequest
				}
				buf = buf[:0]
				continue
			}
			return buf, nil
		}
		lineStart = len(buf)
	}
}

// nextLine splits off one CRLF-terminated line (without the CRLF).
func nextLine(b []byte) (line, rest []byte) {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return b[:i], b[i+2:]
		}
	}
	return b, nil
}

var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}

// parseFields parses header lines into hs. Values are trimmed of OWS; CTLs
// other than HTAB, and obs-fold continuation lines, are errors.
func parseFields(b []byte, hs []Header, maxN int) ([]Header, error) {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return hs, ErrBadRequest // obs-fold
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
		}
		if colon <= 0 || !isToken(line[:colon]) {
			// Includes "Name : v": whitespace before the colon (RFC 9112 §5.1).
			return hs, ErrBadRequest
		}
		v := line[colon+1:]
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			v = v[:len(v)-1]
		}
		for _, c := range v {
			if c < ' ' && c != '\t' || c == 0x7f {
				return hs, ErrBadRequest // NUL, CR, LF and other controls
			}
		}
		if len(hs) >= maxN {
			return hs, ErrTooManyHeaders
		}
		hs = append(hs, Header{Name: line[:colon], Value: v})
	}
	return hs, nil
}

// EqualFold reports whether b equals the lowercase ASCII s, ignoring case.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// parseLength parses a Content-Length value: digits only, no sign, no list.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
