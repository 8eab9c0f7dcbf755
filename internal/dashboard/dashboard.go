// Package dashboard serves Weft's web dashboard: a single page of plain
// HTML, CSS and JavaScript embedded in the binary (no CDN, no build step,
// works offline) that reads and writes the mesh through the admin API,
// mounted in-process under /v1/. The API's own rules apply unchanged:
// reads are open from loopback, writes need the operator token, which the
// page asks for once and sends as Authorization: Bearer.
package dashboard

import (
	"embed"
	"io/fs"
	"net"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// Assets are the dashboard's files, rooted at the directory that holds
// index.html.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embed pattern names the directory: cannot happen
	}
	return sub
}

// CSP is the Content-Security-Policy of every answer: the page loads
// nothing from elsewhere, runs no inline script or style, and cannot be
// framed (so no other site can overlay its buttons).
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Config configures the handler.
type Config struct {
	// API is the admin API's handler, served under /v1/. Required.
	API http.Handler
	// Hosts are the host names (besides IP literals and localhost) a
	// request's Host header may carry. A page on another site that makes
	// its own name resolve to 127.0.0.1 (DNS rebinding) sends that name,
	// and is refused, so it cannot use the loopback-open reads.
	Hosts []string
}

// Handler serves the page at /, its assets, and the API under /v1/.
func Handler(cfg Config) http.Handler {
	hosts := map[string]bool{"localhost": true}
	for _, h := range cfg.Hosts {
		hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	files := http.FileServerFS(Assets())
	mux := http.NewServeMux()
	mux.Handle("/v1/", cfg.API)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// The assets change only with the binary: revalidate, never serve
		// a page of an older version.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if !hostAllowed(r.Host, hosts) {
			http.Error(w, "dashboard: unknown Host "+quoteHost(r.Host)+"; browse to it by IP address, localhost, or a name given to weft control --server-names", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// hostAllowed: an IP literal, localhost or a configured name.
func hostAllowed(hostport string, names map[string]bool) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil {
		return true
	}
	return names[strings.ToLower(host)]
}

func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "..."
	}
	return "\"" + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, h) + "\""
}
