package proxy

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// headerMods sets, adds and removes on both sides, with names in another
// case than the messages use.
func headerMods(r *route.Route) {
	r.RequestHeaders = &route.HeaderMods{
		Set:    []route.HeaderValue{{Name: "x-SET", Value: "new"}},
		Add:    []route.HeaderValue{{Name: "x-add", Value: "second"}},
		Remove: []string{"x-DROP"},
	}
	r.ResponseHeaders = &route.HeaderMods{
		Set:    []route.HeaderValue{{Name: "x-resp-set", Value: "new"}},
		Add:    []route.HeaderValue{{Name: "X-RESP-ADD", Value: "second"}},
		Remove: []string{"server"},
	}
}

// recordingHandler keeps the request headers it saw and answers with
// headers the response modifier edits.
type recordingHandler struct {
	mu  sync.Mutex
	got http.Header
}

func (rh *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rh.mu.Lock()
	rh.got = r.Header.Clone()
	rh.mu.Unlock()
	w.Header().Set("Server", "app")
	w.Header().Set("X-Resp-Set", "old")
	w.Header().Set("X-Resp-Add", "first")
	w.Header().Set("X-Resp-Keep", "k")
	w.Write([]byte("ok"))
}

func (rh *recordingHandler) seen() http.Header {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	return rh.got
}

func TestHeaderModifiers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		h2Engine   bool
		h2Upstream bool
	}{
		{name: "h1 engine, h1 upstream"},
		{name: "h1 engine, h2 upstream (bridge)", h2Upstream: true},
		{name: "h2 engine, h1 upstream", h2Engine: true},
		{name: "h2 engine, h2 upstream", h2Engine: true, h2Upstream: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingHandler{}
			var up string
			proto := cluster.HTTP1
			if tc.h2Upstream {
				up, proto = h2cUpstream(t, rec.ServeHTTP), cluster.HTTP2
			} else {
				srv := httptest.NewServer(rec)
				t.Cleanup(srv.Close)
				up = srv.Listener.Addr().String()
			}
			rt := filteredRuntime(t, up, proto, headerMods)
			var addr string
			c := &http.Client{Timeout: 5 * time.Second}
			if tc.h2Engine {
				addr = serveEngine(t, NewHTTP2(HTTP2Config{Name: "t", Direction: "outbound", Runtime: rt}))
				c = h2cClient()
			} else {
				addr = serveEngine(t, NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt}))
			}
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			req.Host = "catalog"
			req.Header["X-Set"] = []string{"old", "older"}
			req.Header.Set("X-Add", "first")
			req.Header.Set("X-Drop", "yes")
			req.Header.Set("X-Keep", "k")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := rec.seen()
			if v := got.Values("X-Set"); !slices.Equal(v, []string{"new"}) {
				t.Errorf("upstream X-Set %q, want only the set value", v)
			}
			if v := got.Values("X-Add"); !slices.Equal(v, []string{"first", "second"}) {
				t.Errorf("upstream X-Add %q, want the client's then the added", v)
			}
			if v := got.Values("X-Drop"); v != nil {
				t.Errorf("upstream X-Drop %q, want removed", v)
			}
			if got.Get("X-Keep") != "k" || got.Get("X-Request-Id") == "" {
				t.Errorf("upstream lost other headers: %v", got)
			}
			if v := resp.Header.Values("X-Resp-Set"); !slices.Equal(v, []string{"new"}) {
				t.Errorf("client X-Resp-Set %q, want only the set value", v)
			}
			if v := resp.Header.Values("X-Resp-Add"); !slices.Equal(v, []string{"first", "second"}) {
				t.Errorf("client X-Resp-Add %q", v)
			}
			if v := resp.Header.Values("Server"); v != nil {
				t.Errorf("client Server %q, want removed", v)
			}
			if resp.Header.Get("X-Resp-Keep") != "k" || resp.StatusCode != 200 {
				t.Errorf("client response %d %v", resp.StatusCode, resp.Header)
			}
		})
	}
}

// A modifier with a CR/LF value never reaches the wire: the table refuses
// it when compiled.
func TestHeaderModifierInjectionRefused(t *testing.T) {
	for _, m := range []*route.HeaderMods{
		{Set: []route.HeaderValue{{Name: "x-a", Value: "v\r\nx-evil: 1"}}},
		{Add: []route.HeaderValue{{Name: "x-a", Value: "v\x00"}}},
		{Remove: []string{"transfer-encoding"}},
		{Set: []route.HeaderValue{{Name: "X-Weft-Flags", Value: "UF"}}},
		{Add: []route.HeaderValue{{Name: ":path", Value: "/"}}},
	} {
		r := route.Route{Name: "r", Backends: []route.Backend{{Cluster: "up"}}, RequestHeaders: m}
		if _, err := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []route.Route{r}}}}); err == nil {
			t.Errorf("%+v compiled, want refused", m)
		}
	}
}
