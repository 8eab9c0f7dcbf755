package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func readReq(s string) (*Request, error) {
	var r Request
	err := r.Read(bufio.NewReaderSize(strings.NewReader(s), 4096), Limits{})
	return &r, err
}

func TestRequestParse(t *testing.T) {
	r, err := readReq("POST /a?b=1 HTTP/1.1\r\nHost: Catalog:80\r\nX-CuStOm: v \r\nContent-Length: 5\r\nConnection: keep-alive, X-Drop\r\n\r\nhello")
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Method) != "POST" || string(r.Path) != "/a?b=1" || string(r.Authority) != "Catalog:80" || r.ContentLength != 5 || r.Close {
		t.Fatalf("parsed %+v", r)
	}
	if string(r.Headers[1].Name) != "X-CuStOm" || string(r.Headers[1].Value) != "v" {
		t.Fatalf("header case or trim lost: %q=%q", r.Headers[1].Name, r.Headers[1].Value)
	}
	if len(r.ConnTokens) != 2 || string(r.ConnTokens[1]) != "X-Drop" {
		t.Fatalf("connection tokens %q", r.ConnTokens)
	}
}

func TestRequestForms(t *testing.T) {
	tests := []struct {
		in, authority, path string
		abs                 bool
	}{
		{"GET http://catalog/x?y HTTP/1.1\r\nHost: other\r\n\r\n", "catalog", "/x?y", true},
		{"GET http://catalog:8080 HTTP/1.1\r\nHost: catalog\r\n\r\n", "catalog:8080", "/", true},
		{"CONNECT catalog:443 HTTP/1.1\r\nHost: catalog:443\r\n\r\n", "catalog:443", "/", false},
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "a", "/", false},
		{"GET / HTTP/1.0\r\n\r\n", "", "", false},
	}
	for _, tt := range tests {
		r, err := readReq(tt.in)
		if tt.authority == "" {
			if err == nil {
				t.Errorf("%q: want error (no authority)", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if string(r.Authority) != tt.authority || string(r.Path) != tt.path || r.AbsoluteForm != tt.abs {
			t.Errorf("%q: authority %q path %q abs %v", tt.in, r.Authority, r.Path, r.AbsoluteForm)
		}
	}
}

// The hostile-input corpus of RELIABILITY.md rows 1-3, 5, 7 and 17 at the
// codec level: every one is refused with the right status.
func TestRequestRejects(t *testing.T) {
	many := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: 1\r\n", 101) + "\r\n"
	big := "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 61<<10) + "\r\n\r\n"
	tests := []struct {
		name, in string
		status   int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n", 400},
		{"two CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
		{"same CL twice", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400},
		{"CL sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400},
		{"space before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
		{"space in name", "POST / HTTP/1.1\r\nHost: a\r\nContent Length: 5\r\n\r\n", 400},
		{"xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
		{"chunked identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
		{"two TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE in 1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n", 400},
		{"bare LF header", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400},
		{"bare LF line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: abc\x00.internal\r\n\r\n", 400},
		{"CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", 400},
		{"NUL in target", "GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"HTTP/2.0 line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"101 headers", many, 431},
		{"61 KiB of headers", big, 431},
		{"long request line", "GET /" + strings.Repeat("a", 9<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"CONNECT path", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readReq(tt.in)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := Status(err); got != tt.status {
				t.Fatalf("status %d (%v), want %d", got, err, tt.status)
			}
		})
	}
}

func TestH2CUpgradeNeverHonoured(t *testing.T) {
	r, err := readReq("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if r.Upgrade != nil {
		t.Fatalf("h2c upgrade kept: %q", r.Upgrade)
	}
	r, err = readReq("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if err != nil || string(r.Upgrade) != "websocket" {
		t.Fatalf("websocket upgrade lost: %q %v", r.Upgrade, err)
	}
}

func TestChunkedRelay(t *testing.T) {
	in := "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT"
	br := bufio.NewReader(strings.NewReader(in))
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	if _, err := RelayChunked(bw, br, nil, nil); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	want := "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
	if out.String() != want {
		t.Fatalf("relayed %q, want %q", out.String(), want)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "NEXT" {
		t.Fatalf("read past the body: left %q", rest)
	}
	// The relayed form is what net/http reads as the same body.
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + want)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	if string(body) != "hello world" || req.Trailer.Get("X-Trailer") != "t" {
		t.Fatalf("net/http read %q trailer %v", body, req.Trailer)
	}
}

func TestChunkedRejects(t *testing.T) {
	for name, in := range map[string]string{
		"bare LF size":    "1;ext\na\r\n0\r\n\r\n",
		"bare LF data":    "1\r\na\n0\r\n\r\n",
		"no size":         ";x\r\n",
		"junk after size": "1x\r\na\r\n0\r\n\r\n",
		"huge size":       "ffffffffffffffffff\r\n",
		"1 MiB extension": "1;" + strings.Repeat("a", 1<<20) + "\r\na\r\n0\r\n\r\n",
		"truncated":       "5\r\nhel",
		"bad trailer":     "0\r\nX y\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := RelayChunked(bufio.NewWriter(&out), bufio.NewReader(strings.NewReader(in)), nil, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if name == "1 MiB extension" && !errors.Is(err, ErrBadChunk) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestResponseParse(t *testing.T) {
	var r Response
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Up: 1\r\n\r\nok"))
	if err := r.Read(br, Limits{}); err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || r.ContentLength != 2 || string(r.Line) != "HTTP/1.1 200 OK" {
		t.Fatalf("parsed %+v", r)
	}
	if has, until := r.BodyFramed([]byte("HEAD")); has || until {
		t.Fatal("HEAD response has no body")
	}
	for _, bad := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 X\r\n\r\n",
		"HTTP/2 200\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\nX: y\r\n\r\n",
	} {
		if err := r.Read(bufio.NewReader(strings.NewReader(bad)), Limits{}); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"GET http://h/p HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n",
		"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Request
		if err := r.Read(bufio.NewReaderSize(bytes.NewReader(in), 4096), Limits{}); err != nil {
			return
		}
		// Whatever we accept, net/http must accept too, with the same framing:
		// a disagreement is exactly a smuggling vector.
		// RFC 9112 §2.2 lets a server skip empty lines before a request; we
		// do, net/http does not.
		trimmed := in
		for range MaxLeadingEmptyLines {
			trimmed = bytes.TrimPrefix(trimmed, []byte("\n"))
			trimmed = bytes.TrimPrefix(trimmed, []byte("\r\n"))
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(trimmed)))
		if err != nil {
			t.Fatalf("we accepted what net/http rejects (%v): %q", err, in)
		}
		if r.Chunked != (len(req.TransferEncoding) > 0) {
			t.Fatalf("chunked disagreement on %q", in)
		}
		if !r.Chunked && r.ContentLength >= 0 && r.ContentLength != req.ContentLength {
			t.Fatalf("length %d vs net/http %d on %q", r.ContentLength, req.ContentLength, in)
		}
		for _, h := range r.Headers {
			if bytes.ContainsAny(h.Value, "\x00\r\n") {
				t.Fatalf("control byte survived in %q", h.Value)
			}
		}
	})
}

func FuzzResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Response
		if err := r.Read(bufio.NewReader(bytes.NewReader(in)), Limits{}); err != nil {
			return
		}
		if r.Status < 100 || r.Status > 999 || r.Chunked && r.ContentLength >= 0 {
			t.Fatalf("accepted inconsistent response %q", in)
		}
	})
}

func FuzzChunked(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("1;a=b\r\nx\r\n0\r\nT: v\r\n\r\n"))
	f.Add([]byte("0\r\nContent-Length: 5\r\nHost: x\r\nT: v\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		if _, err := RelayChunked(bw, bufio.NewReader(bytes.NewReader(in)), nil, nil); err != nil {
			return
		}
		bw.Flush()
		// What we emit must be a well-formed chunked body.
		req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(strings.NewReader("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), &out)))
		if err != nil {
			t.Fatalf("re-encoded body unreadable: %v", err)
		}
		if _, err := io.ReadAll(req.Body); err != nil {
			t.Fatalf("re-encoded body %q invalid: %v (input %q)", out.String(), err, in)
		}
		for k := range req.Trailer {
			if ForbiddenTrailer([]byte(k)) {
				t.Fatalf("forbidden trailer %q relayed (input %q)", k, in)
			}
		}
	})
}

func BenchmarkRequestRead(b *testing.B) {
	raw := []byte("GET /api/v1/items?x=1 HTTP/1.1\r\nHost: catalog\r\nUser-Agent: bench\r\nAccept: */*\r\nX-Request-Id: abc\r\n\r\n")
	rd := bytes.NewReader(raw)
	br := bufio.NewReaderSize(rd, 4096)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		rd.Reset(raw)
		br.Reset(rd)
		if err := r.Read(br, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
