// Package frontend is the Go stand-in for frontend.py, used by the demo
// when python3 is not installed. It behaves the same and knows nothing
// about Weft: it calls catalog and ratings by name through the local
// address in $WEFT_UPSTREAM_CATALOG / $WEFT_UPSTREAM_RATINGS, else through
// $HTTP_PROXY, and passes on the caller's x-user header.
package frontend

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

var passedOn = []string{"X-User", "X-Request-Id"}

// Handler serves the shop's pages.
func Handler() http.Handler {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 32,
	}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			reply(w, http.StatusOK, map[string]any{"ok": true})
			return
		}
		product := path.Base(strings.TrimSuffix(r.URL.Path, "/"))
		if product == "/" || product == "." {
			product = "1"
		}
		var cat json.RawMessage
		if err := call(c, r, "catalog", "/items/"+product, &cat); err != nil {
			reply(w, http.StatusBadGateway, map[string]any{"error": "catalog: " + err.Error()})
			return
		}
		page := map[string]any{"product": product, "served_by": "frontend (go stand-in)", "catalog": cat, "ratings": nil}
		var rat json.RawMessage
		if call(c, r, "ratings", "/ratings/"+product, &rat) == nil {
			page["ratings"] = rat // a page without stars is still a page
		}
		reply(w, http.StatusOK, page)
	})
}

func call(c *http.Client, in *http.Request, service, p string, out *json.RawMessage) error {
	base := "http://" + service
	if local := os.Getenv("WEFT_UPSTREAM_" + strings.ToUpper(service)); local != "" {
		base = "http://" + local
	}
	req, err := http.NewRequestWithContext(in.Context(), "GET", base+p, nil)
	if err != nil {
		return err
	}
	req.Host = service
	for _, h := range passedOn {
		if v := in.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	*out = b
	return nil
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
