package sidecar

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func postExplain(t *testing.T, admin, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+admin+"/explain", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Quick mode routes every host to its one upstream: /explain says so from
// the running tables, with the request normalised as the proxy does it,
// the timeout from the limits, and the endpoint's live pool after a
// request went through it.
func TestExplainEndpoint(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app")) }))
	defer app.Close()
	_, a := runSidecar(t, &Config{
		Node: "n1", Admin: "127.0.0.1:0",
		Outbound: Outbound{Ports: []OutboundPort{{Listen: "127.0.0.1:0", Service: "app"}}},
		Upstream: &Upstream{Address: app.Listener.Addr().String()},
		Limits:   Limits{DrainTimeout: time.Second, RequestTimeout: 7 * time.Second},
	})
	if code, body := get(t, "http://"+a.Outbound["app"]+"/x"); code != 200 || body != "app" {
		t.Fatalf("proxied request: %d %q", code, body)
	}
	// The proxy pools the connection and records the latency once the
	// response is relayed, which may be just after the client has it.
	var e Explanation
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, body := postExplain(t, a.Admin, `{"url": "http://Catalog.:8080/a//b/../c?q=1", "headers": ["X-User: beta"]}`)
		if code != 200 {
			t.Fatalf("/explain %d %s", code, body)
		}
		e = Explanation{}
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatal(err)
		}
		if rt := e.Route; rt == nil || len(rt.Backends) != 1 || len(rt.Backends[0].Endpoints) != 1 ||
			rt.Backends[0].Endpoints[0].IdleConns == 1 && rt.Backends[0].Endpoints[0].Latency != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := e.Request
	if r.Method != "GET" || r.Host != "catalog" || r.Path != "/a/c" || r.Query != "q=1" || r.Authority != "Catalog.:8080" || strings.Join(r.Headers, ",") != "x-user: beta" {
		t.Errorf("request %+v", r)
	}
	if e.Node != "n1" || e.VirtualHost != quickCluster || e.Domain != "*" || e.Matched != 0 || len(e.Rules) != 1 || e.Rules[0].Outcome != "match" {
		t.Fatalf("routing %+v", e)
	}
	rt := e.Route
	if rt == nil || rt.Timeout != "7s" || rt.TimeoutFrom != "limits.requestTimeout" || len(rt.Backends) != 1 {
		t.Fatalf("route %+v", rt)
	}
	b := rt.Backends[0]
	if b.Cluster != quickCluster || b.Percent != 100 || len(b.Endpoints) != 1 {
		t.Fatalf("backend %+v", b)
	}
	ep := b.Endpoints[0]
	if ep.Address != app.Listener.Addr().String() || ep.OpenConns != 1 || ep.IdleConns != 1 || ep.Latency == "" {
		t.Errorf("endpoint %+v: want the pooled connection and a latency from the request that went through", ep)
	}
}

func TestExplainEndpointRejects(t *testing.T) {
	_, a := runSidecar(t, &Config{Node: "n1", Admin: "127.0.0.1:0", Limits: Limits{DrainTimeout: time.Second}})
	tests := []struct{ name, body, want string }{
		{"no url", `{}`, "url: must not be empty"},
		{"bad host", `{"url": "http://a b/"}`, `host "a b"`},
		{"bad path", `{"url": "http://a/%2f"}`, `path "/%2f"`},
		{"bad scheme", `{"url": "ftp://a/"}`, "scheme must be http or https"},
		{"bad method", `{"method": "G T", "url": "a"}`, `method "G T"`},
		{"bad header", `{"url": "a", "headers": ["novalue"]}`, `headers[0] "novalue"`},
		{"unknown field", `{"url": "a", "hdrs": []}`, `unknown field "hdrs"`},
		{"too large", `{"url": "` + strings.Repeat("a", maxExplainBody) + `"}`, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := postExplain(t, a.Admin, tt.body)
			if code != http.StatusBadRequest || !strings.Contains(body, tt.want) {
				t.Errorf("%d %q, want 400 with %q", code, body, tt.want)
			}
		})
	}
	// No upstream and no control plane: nothing routes, and it says so.
	code, body := postExplain(t, a.Admin, `{"url": "catalog/items"}`)
	if code != 200 || !strings.Contains(body, "no virtual host serves catalog") {
		t.Errorf("%d %s", code, body)
	}
}

func FuzzParseExplain(f *testing.F) {
	f.Add("GET", "http://catalog/items?x=1", "x-user: beta")
	f.Add("", "catalog", "")
	f.Add("POST", "https://[::1]:80/a/../b", "a:")
	f.Fuzz(func(t *testing.T, method, url, header string) {
		r, hs, err := parseExplain(ExplainRequest{Method: method, URL: url, Headers: []string{header}})
		if err != nil {
			return
		}
		if r.Host == "" || !strings.HasPrefix(r.Path, "/") || len(hs) != 1 {
			t.Fatalf("accepted %q %q %q as %+v", method, url, header, r)
		}
		if _, ok := hs.Get(hs[0][0]); !ok || hs[0][0] != strings.ToLower(hs[0][0]) {
			t.Fatalf("header %q not found by its lowercase name", hs[0][0])
		}
	})
}
