package h1

import (
	"strings"
	"testing"
)

// RFC 9112 §2.2: empty lines before a request line are skipped, CRLF or
// bare LF, up to MaxLeadingEmptyLines; the request after them gets every
// check, and one line more is refused.
func TestLeadingEmptyLines(t *testing.T) {
	const req = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
	for _, prefix := range []string{"\r\n", "\n", "\r\n\n\r\n", strings.Repeat("\r\n", MaxLeadingEmptyLines)} {
		r, err := readReq(prefix + req)
		if err != nil {
			t.Fatalf("%q: %v", prefix, err)
		}
		if string(r.Method) != "POST" || r.ContentLength != 3 {
			t.Fatalf("%q: method %q length %d", prefix, r.Method, r.ContentLength)
		}
	}
	smuggle := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"
	for _, in := range []string{
		strings.Repeat("\r\n", MaxLeadingEmptyLines+1) + req,
		strings.Repeat("\n", MaxLeadingEmptyLines+1) + req,
		"\r\n" + smuggle,
		"\n" + smuggle,
		"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		if _, err := readReq(in); err == nil || Status(err) != 400 {
			t.Errorf("%q: err %v, want a 400", in, err)
		}
	}
}
