package controlplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/weft-mesh/weft/internal/dashboard"
)

// DefaultDashboard is the dashboard listener weft control opens unless
// told otherwise (Config.Dashboard's zero value is off: a control plane
// embedded in a test or a tool opens no port it was not asked for).
const DefaultDashboard = "127.0.0.1:15090"

// dashboardOff reports whether addr turns the dashboard off.
func dashboardOff(addr string) bool { return addr == "" || strings.EqualFold(addr, "off") }

// loopbackHost: the listener is reachable from this host only, so plain
// HTTP carries nothing another host can see.
func loopbackHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dashboardURL is where a browser finds the dashboard bound at addr.
func dashboardURL(addr string, tlsOn bool) string {
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
		if tlsOn {
			if h, err := os.Hostname(); err == nil {
				host = h
			}
		}
	}
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: "/"}).String()
}

// DashboardLink is the dashboard's URL with the operator token in its
// fragment (#token=...): the page keeps it for the browser tab and
// removes it from the address bar; a fragment is never sent to a server.
// "" when the dashboard is off.
func (a Addrs) DashboardLink(token string) string {
	if a.DashboardURL == "" || token == "" {
		return a.DashboardURL
	}
	return a.DashboardURL + "#token=" + url.QueryEscape(token)
}

// dashboardServer is the dashboard's listener and server: the API handler
// in-process under /v1/ and the page, with the API port's connection cap
// and timeouts. On a loopback address it speaks plain HTTP (a browser
// cannot verify the control plane's own CA); anywhere else it serves TLS
// with the control plane's serving certificate.
type dashboardServer struct {
	hs  *http.Server
	l   net.Listener
	url string
	tls bool
}

func newDashboard(ctx context.Context, cfg *Config, apiHandler http.Handler, names []string, tlsCfg *tls.Config, handlers *sync.WaitGroup) (*dashboardServer, error) {
	l, err := listen(cfg.Dashboard, cfg.MaxConnsPerIP)
	if err != nil {
		return nil, fmt.Errorf("dashboard listener (--dashboard off turns it off): %w", err)
	}
	d := &dashboardServer{l: l, tls: !loopbackHost(cfg.Dashboard)}
	d.url = dashboardURL(l.Addr().String(), d.tls)
	d.hs = httpServer(ctx, cfg.Logger, "dashboard", tracked(handlers, dashboard.Handler(dashboard.Config{API: apiHandler, Hosts: names})))
	if d.tls {
		d.hs.TLSConfig = tlsCfg.Clone()
	}
	return d, nil
}

func (d *dashboardServer) serve() error {
	if d.tls {
		return d.hs.ServeTLS(d.l, "", "")
	}
	return d.hs.Serve(d.l)
}
