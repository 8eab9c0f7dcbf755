package dashboard

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T, method, target, host string) *http.Response {
	t.Helper()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"api":"`+r.URL.Path+`"}`)
	})
	req := httptest.NewRequest(method, target, nil)
	if host == "" {
		host = "127.0.0.1:15090"
	}
	req.Host = host
	rec := httptest.NewRecorder()
	Handler(Config{API: api, Hosts: []string{"cp.example"}}).ServeHTTP(rec, req)
	return rec.Result()
}

func TestServesAssetsWithTypesAndCSP(t *testing.T) {
	for _, c := range []struct{ path, ctype, contains string }{
		{"/", "text/html", "<title>Weft dashboard</title>"},
		{"/app.js", "text/javascript", "REFRESH_MS"},
		{"/app.css", "text/css", "--accent"},
	} {
		resp := serve(t, "GET", c.path, "127.0.0.1:15090")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", c.path, resp.Status)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.path, ct, c.ctype)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q", c.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: headers %v", c.path, resp.Header)
		}
		if !strings.Contains(string(body), c.contains) {
			t.Errorf("GET %s: body lacks %q", c.path, c.contains)
		}
	}
	if resp := serve(t, "GET", "/nosuch.js", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing asset: %s", resp.Status)
	}
	if resp := serve(t, "POST", "/", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s", resp.Status)
	}
}

func TestMountsTheAPI(t *testing.T) {
	resp := serve(t, "GET", "/v1/stats", "localhost:15090")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != `{"api":"/v1/stats"}` {
		t.Fatalf("GET /v1/stats: %s %s", resp.Status, body)
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("API answers lack the CSP")
	}
}

// TestRefusesForeignHosts: a name other than an IP, localhost or a
// configured one is refused (DNS rebinding), for the API above all.
func TestRefusesForeignHosts(t *testing.T) {
	for host, want := range map[string]int{
		"127.0.0.1:15090": 200, "[::1]:15090": 200, "localhost:15090": 200, "LOCALHOST.": 200, "cp.example:15090": 200, "10.0.0.7": 200,
		"evil.example:15090": http.StatusMisdirectedRequest, "localhost.evil.example": http.StatusMisdirectedRequest,
	} {
		if got := serve(t, "GET", "/v1/stats", host).StatusCode; got != want {
			t.Errorf("Host %q: %d, want %d", host, got, want)
		}
	}
}

// TestNoExternalURLs: the page works offline and leaks nothing: no asset
// names a URL on another host (the SVG namespace is an identifier,
// never fetched).
func TestNoExternalURLs(t *testing.T) {
	allowed := map[string]bool{"http://www.w3.org/2000/svg": true}
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'` + "`" + `)]*`)
	n := 0
	err := fs.WalkDir(Assets(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		data, err := fs.ReadFile(Assets(), path)
		if err != nil {
			return err
		}
		for _, m := range url.FindAllString(string(data), -1) {
			if !allowed[m] {
				t.Errorf("%s names an external URL: %s", path, m)
			}
		}
		if regexp.MustCompile(`(?i)\b(src|href)\s*=\s*"(https?:)?//`).Match(data) {
			t.Errorf("%s loads from another host", path)
		}
		return nil
	})
	if err != nil || n < 3 {
		t.Fatalf("walked %d assets: %v", n, err)
	}
}

// TestScriptParses checks app.js with node when it is installed (a syntax
// error would otherwise show only in a browser).
func TestScriptParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed; the browser e2e test (test/e2e/dashboard_test.go) covers the script")
	}
	if out, err := exec.Command(node, "--check", "assets/app.js").CombinedOutput(); err != nil {
		t.Fatalf("node --check app.js: %v\n%s", err, out)
	}
}
