package proxy

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// denyAdmin is what translate makes of a DENY policy on paths /admin and
// /admin/* (DENY paths compare without case).
func denyAdmin() authz.Config {
	path := func(kind authz.MatchKind, v string) authz.Permission {
		return authz.Permission{Path: &authz.StringMatch{Kind: kind, Value: v, IgnoreCase: true}}
	}
	return authz.Config{Filters: []authz.Filter{{Action: authz.Deny, Policies: []authz.Policy{{
		Name: "shop/deny-admin/rules[0]", Principals: []authz.Principal{{Any: true}},
		Permissions: []authz.Permission{{Or: []authz.Permission{path(authz.Exact, "/admin"), path(authz.Prefix, "/admin/")}}},
	}}}}}
}

// bypassTargets are RELIABILITY row 8's path-normalisation bypasses and
// their relatives: encodings, dot segments, repeated and encoded slashes,
// backslashes, fragments, matrix parameters, case, absolute form.
var bypassTargets = []string{
	"/admin", "//admin", "///admin", "/./admin", "/x/../admin", "/x/./../admin", "/a/b/../../admin",
	"/%61dmin", "/%61%64%6d%69%6e", "/%41DMIN", "/admin%2F", "/admin%2f", "/%2Fadmin", "/%2fadmin/x",
	"/admin%5C", "/%5Cadmin", "/admin%5c..%5cx", "/admin#x", "/admin/#", "/admin/", "/admin//x", "/ADMIN",
	"/Admin", "/aDmIn/x", "/admin/../admin", "/%2e%2e/admin", "/%2E%2E/admin", "/%2e/admin", "/.%2e/admin",
	"/x/%2e%2e/admin", "/%2e%2E/%2E%2e/admin", "/admin;jsessionid=1", "/ADMIN;x", "/admin;x=1/", "/admin;/x",
	"/admin?x=1", "/admin/?x", "/admin%00", "/admin%0d%0aX:1", "/admin/.", "/%61%64min/", "/admin\\",
	"\\admin", "/adm%69n/x", "/admin%09", "/%2561dmin", "/admin%20", "/admin.", "http://catalog/admin",
	"http://catalog//admin", "http://catalog/%2e%2e/ADMIN",
}

// Every bypass variant is denied (403), refused as malformed (400), or
// reaches the app under a path that is not /admin: the recording upstream
// proves which. The check is applied to what the app saw, case folded and
// with matrix parameters dropped, as a lenient app would read it.
func TestAuthzPathBypassCorpus(t *testing.T) {
	if len(bypassTargets) < 40 {
		t.Fatalf("corpus has %d variants, want at least 40", len(bypassTargets))
	}
	rec := newRecorder(t)
	rt := newRuntime(t, rec.addr(), cluster.HTTP1, 0)
	withAuthz(t, rt, denyAdmin())
	addr := serveEngine(t, NewHTTP1(HTTP1Config{Name: "in", Direction: "inbound", Runtime: rt}))
	denied := 0
	for _, target := range bypassTargets {
		out, _ := exchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")
		status := strings.SplitN(out, " ", 3)
		if len(status) < 2 {
			t.Errorf("%q: no response: %q", target, out)
			continue
		}
		switch status[1] {
		case "403":
			denied++
			if !strings.Contains(out, "X-Weft-Response-Flags: RBAC") {
				t.Errorf("%q: 403 without the RBAC flag", target)
			}
		case "400", "200":
		default:
			t.Errorf("%q: status %s", target, status[1])
		}
	}
	for _, r := range rec.requests() {
		p, _, _ := strings.Cut(r.URI, "?")
		if dec, err := url.PathUnescape(p); err == nil {
			p = dec
		}
		p = strings.ToLower(string(authzStrip(p)))
		if p == "/admin" || strings.HasPrefix(p, "/admin/") || strings.HasPrefix(p, "/admin\\") {
			t.Errorf("the app was reached at %q", r.URI)
		}
	}
	if denied < 30 {
		t.Errorf("only %d of %d variants denied", denied, len(bypassTargets))
	}
	t.Logf("%d variants: %d denied, %d reached the app (none at /admin), the rest refused as malformed", len(bypassTargets), denied, len(rec.requests()))
}

func authzStrip(p string) []byte {
	if b := authz.StripParams(nil, []byte(p)); b != nil {
		return b
	}
	return []byte(p)
}

// RELIABILITY row 9: a policy on the host sees the host routing sees
// (lowercase, no port, no trailing dot; absolute form wins over Host).
func TestAuthzHostBypassCorpus(t *testing.T) {
	rec := newRecorder(t)
	rt := newRuntime(t, rec.addr(), cluster.HTTP1, 0)
	withAuthz(t, rt, authz.Config{Filters: []authz.Filter{{Action: authz.Deny, Policies: []authz.Policy{{
		Name: "deny-secret", Principals: []authz.Principal{{Any: true}},
		Permissions: []authz.Permission{{Header: &authz.HeaderMatch{Name: ":authority", Match: &authz.StringMatch{Value: "secret.com", IgnoreCase: true}}}},
	}}}}})
	addr := serveEngine(t, NewHTTP1(HTTP1Config{Name: "in", Direction: "inbound", Runtime: rt}))
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: secret.com\r\n",
		"GET / HTTP/1.1\r\nHost: Secret.com\r\n",
		"GET / HTTP/1.1\r\nHost: SECRET.COM\r\n",
		"GET / HTTP/1.1\r\nHost: secret.com:80\r\n",
		"GET / HTTP/1.1\r\nHost: secret.com.\r\n",
		"GET / HTTP/1.1\r\nHost: Secret.Com.:8080\r\n",
		"GET http://secret.com/ HTTP/1.1\r\nHost: other.com\r\n",
		"GET http://SECRET.com:80/x HTTP/1.1\r\nHost: other.com\r\n",
	} {
		out, _ := exchange(t, addr, req+"Connection: close\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 403") && !strings.HasPrefix(out, "HTTP/1.1 400") {
			t.Errorf("%q: %q", req, out)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("the app saw %d requests for secret.com", n)
	}
}

// The same corpus over HTTP/2 (h2c): the engine normalises :path with the
// same function, so each variant is denied, refused, or reaches the app
// elsewhere than /admin.
func TestAuthzPathBypassCorpusHTTP2(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	up := h2UpstreamFunc(t, func(uri string) {
		mu.Lock()
		seen = append(seen, uri)
		mu.Unlock()
	})
	rt := newRuntime(t, up, cluster.HTTP2, 0)
	withAuthz(t, rt, denyAdmin())
	addr := serveEngine(t, NewHTTP2(HTTP2Config{Name: "in", Direction: "inbound", Runtime: rt}))
	c := h2cClient()
	sent, denied := 0, 0
	for _, target := range bypassTargets {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, "#\\ ") {
			continue // not an origin-form :path a client can send
		}
		req, err := http.NewRequest("GET", "http://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = target
		req.Host = "catalog"
		resp, err := c.Do(req)
		if err != nil {
			continue // the client refused to send it
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sent++
		switch resp.StatusCode {
		case 403:
			denied++
			if resp.Header.Get("X-Weft-Response-Flags") != "RBAC" {
				t.Errorf("%q: 403 without the RBAC flag", target)
			}
		case 400, 200:
		default:
			t.Errorf("%q: status %d", target, resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, uri := range seen {
		p, _, _ := strings.Cut(uri, "?")
		if dec, err := url.PathUnescape(p); err == nil {
			p = dec
		}
		p = strings.ToLower(string(authzStrip(p)))
		if p == "/admin" || strings.HasPrefix(p, "/admin/") {
			t.Errorf("the app was reached at %q", uri)
		}
	}
	if sent < 30 || denied < sent/2 {
		t.Errorf("sent %d variants, %d denied", sent, denied)
	}
	t.Logf("HTTP/2: %d variants sent, %d denied, %d reached the app (none at /admin)", sent, denied, len(seen))
}

// h2UpstreamFunc is an h2c upstream that reports each request's URI.
func h2UpstreamFunc(t *testing.T, saw func(string)) string {
	t.Helper()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw(r.RequestURI)
		io.WriteString(w, "ok")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
