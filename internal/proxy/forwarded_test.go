package proxy

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// spoofed are the forwarding and identity headers a client may try to
// assert about itself (RELIABILITY row 11, T7).
var spoofed = map[string]string{
	"X-Forwarded-For":   "6.6.6.6",
	"X-Forwarded-Proto": "https",
	"X-Forwarded-Host":  "admin.internal",
	"Forwarded":         "for=6.6.6.6",
	"X-Real-Ip":         "6.6.6.6",
	"X-Mesh-Identity":   "spiffe://evil/admin",
	"X-Weft-Route":      "forced",
}

// forwardedCases: what the upstream must see of spoofed, per trust mode.
var forwardedCases = []struct {
	name      string
	direction string
	trust     bool
	want      map[string]string // "" = absent
}{
	{"inbound untrusted", "inbound", false, map[string]string{
		"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "",
		"Forwarded": "", "X-Real-Ip": "", "X-Mesh-Identity": "", "X-Weft-Route": ""}},
	{"inbound trusted", "inbound", true, map[string]string{
		"X-Forwarded-For": "6.6.6.6, 127.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "admin.internal",
		"Forwarded": "for=6.6.6.6, for=127.0.0.1", "X-Real-Ip": "6.6.6.6", "X-Mesh-Identity": "", "X-Weft-Route": "forced"}},
	{"outbound trusted app", "outbound", true, map[string]string{
		"X-Forwarded-For": "6.6.6.6, 127.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "admin.internal",
		"Forwarded": "for=6.6.6.6, for=127.0.0.1", "X-Real-Ip": "6.6.6.6", "X-Mesh-Identity": "", "X-Weft-Route": ""}},
	{"outbound untrusted app", "outbound", false, map[string]string{
		"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "",
		"Forwarded": "", "X-Real-Ip": "", "X-Mesh-Identity": "", "X-Weft-Route": ""}},
}

func seen(h http.Header) map[string]string {
	got := map[string]string{}
	for k := range spoofed {
		got[k] = strings.Join(h.Values(k), ", ")
	}
	return got
}

func TestHTTP1ForwardedHeadersTrust(t *testing.T) {
	for _, tc := range forwardedCases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t)
			addr, _ := startHTTP1(t, rec, func(c *HTTP1Config) { c.Direction, c.TrustForwarded = tc.direction, tc.trust })
			var raw strings.Builder
			raw.WriteString("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n")
			for k, v := range spoofed {
				raw.WriteString(k + ": " + v + "\r\n")
			}
			raw.WriteString("\r\n")
			exchange(t, addr, raw.String())
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream saw %d requests", len(reqs))
			}
			if diff := cmp.Diff(tc.want, seen(reqs[0].Header)); diff != "" {
				t.Fatalf("upstream headers (-want +got):\n%s", diff)
			}
		})
	}
}

// RELIABILITY row 11 exactly: Connection nominating the trusted headers,
// plus a client X-Mesh-Identity, on an untrusted inbound.
func TestHTTP1ConnectionNominatingTrustedHeaders(t *testing.T) {
	rec := newRecorder(t)
	addr, _ := startHTTP1(t, rec, func(c *HTTP1Config) { c.Direction = "inbound" })
	exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Forwarded-For, X-Mesh-Identity\r\n"+
		"X-Mesh-Identity: spiffe://cluster.local/ns/default/sa/admin\r\nX-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n")
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	h := reqs[0].Header
	if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For %q, want only the proxy's", got)
	}
	if h.Get("X-Mesh-Identity") != "" || h.Get("X-Real-Ip") != "" {
		t.Fatalf("client-set identity or address reached the upstream: %v", h)
	}
}

func TestHTTP2ForwardedHeadersTrust(t *testing.T) {
	for _, tc := range forwardedCases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t)
			h := NewHTTP2(HTTP2Config{Name: "t", Direction: tc.direction, TrustForwarded: tc.trust,
				Runtime: newRuntime(t, rec.addr(), cluster.HTTP1, 0)})
			addr := serveEngine(t, h)
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			for k, v := range spoofed {
				req.Header.Set(k, v)
			}
			c := h2cClient()
			defer c.CloseIdleConnections()
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream saw %d requests", len(reqs))
			}
			if diff := cmp.Diff(tc.want, seen(reqs[0].Header)); diff != "" {
				t.Fatalf("upstream headers (-want +got):\n%s", diff)
			}
		})
	}
}

// An HTTP/2 client's request trailers lose the fields policy controls
// before they reach an HTTP/1.1 upstream.
func TestHTTP2RequestTrailersFiltered(t *testing.T) {
	rec := newRecorder(t)
	h := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: newRuntime(t, rec.addr(), cluster.HTTP1, 0)})
	addr := serveEngine(t, h)
	body := strings.NewReader("payload")
	req, _ := http.NewRequest("POST", "http://"+addr+"/t", struct{ *strings.Reader }{body}) // unknown length
	req.Trailer = http.Header{"X-Mesh-Identity": nil, "X-Forwarded-For": nil, "X-Checksum": nil}
	req.Trailer.Set("X-Mesh-Identity", "spiffe://evil/admin")
	req.Trailer.Set("X-Forwarded-For", "6.6.6.6")
	req.Trailer.Set("X-Checksum", "abc")
	c := h2cClient()
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	if reqs[0].Body != "payload" || reqs[0].Trailer.Get("X-Checksum") != "abc" ||
		reqs[0].Trailer.Get("X-Mesh-Identity") != "" || reqs[0].Trailer.Get("X-Forwarded-For") != "" {
		t.Fatalf("upstream body %q trailers %v", reqs[0].Body, reqs[0].Trailer)
	}
}

// The HTTP/1.1 -> HTTP/2 bridge reads a chunked body's trailer section
// itself: forbidden fields are dropped, allowed ones become HTTP/2
// trailers, and nothing of it is left to be parsed as a next request.
func TestHTTP1BridgeTrailers(t *testing.T) {
	type seenReq struct {
		path    string
		trailer http.Header
	}
	got := make(chan seenReq, 4)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		for {
			if _, err := r.Body.Read(b); err != nil {
				break
			}
		}
		got <- seenReq{r.URL.Path, r.Trailer}
		w.Write([]byte("ok"))
	}))
	up.Config.Protocols = new(http.Protocols)
	up.Config.Protocols.SetUnencryptedHTTP2(true)
	up.Start()
	defer up.Close()
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "inbound", Runtime: newRuntime(t, up.Listener.Addr().String(), cluster.HTTP2, 0)})
	addr := serveEngine(t, h)
	out, _ := exchange(t, addr, "POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"+
		"3\r\nabc\r\n0\r\nX-Mesh-Identity: spiffe://evil\r\nX-Checksum: abc\r\n\r\n"+
		"GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(strings.NewReader(out))
	for i, want := range []string{"/t", "/next"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("response %d: %v %v\n%s", i, resp, err, out)
		}
		resp.Body.Close()
		r := <-got
		if r.path != want {
			t.Fatalf("upstream request %d: %s, want %s", i, r.path, want)
		}
		if i == 0 && (r.trailer.Get("X-Checksum") != "abc" || r.trailer.Get("X-Mesh-Identity") != "") {
			t.Fatalf("upstream trailers %v", r.trailer)
		}
	}
}
