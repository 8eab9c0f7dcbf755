// Package catalog is the demo shop's catalog: the echo app answering as
// service "catalog" in one version, plus a switch that makes it fail a
// share of its requests, as a bad deploy would. It knows nothing about Weft.
package catalog

import (
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weft-mesh/weft/demo/echo"
)

// App is one catalog instance.
type App struct {
	version string
	echo    http.Handler
	// failShare is the share of requests answered 503, as float64 bits.
	failShare atomic.Uint64
}

// New returns a catalog app answering as version.
func New(version string) *App {
	return &App{version: version, echo: echo.Handler("catalog", version)}
}

// SetFailShare makes the app answer 503 to share (0..1) of its requests,
// at random: a strict alternation would never fail twice in a row.
func (a *App) SetFailShare(share float64) {
	a.failShare.Store(uint64(share * 1e6))
}

// ServeHTTP answers /healthz always (a probe that passes while requests
// fail is the case only outlier detection catches), and anything else
// with the echo reply, or 503 for the failing share.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.Write([]byte("ok\n"))
		return
	}
	if s := a.failShare.Load(); s > 0 && rand.Uint64N(1e6) < s {
		w.Header().Set("X-Served-By", "catalog-"+a.version)
		http.Error(w, "catalog "+a.version+": failing on purpose (demo)", http.StatusServiceUnavailable)
		return
	}
	a.echo.ServeHTTP(w, r)
}

// WatchFailFile sets the fail share from the number in path (0.5 fails
// half), re-read every interval until stop is closed; a missing or
// unreadable file means 0. A file, not an HTTP path, so the switch cannot
// be flipped through the mesh.
func (a *App) WatchFailFile(path string, interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		share := 0.0
		if b, err := os.ReadFile(path); err == nil {
			if f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil && f > 0 {
				share = min(f, 1)
			}
		}
		a.SetFailShare(share)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
