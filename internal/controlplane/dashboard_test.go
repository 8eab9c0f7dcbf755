package controlplane

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDashboardAddresses(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:15090": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, ":1": false, "10.0.0.1:1": false} {
		if got := loopbackHost(addr); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", addr, got, want)
		}
	}
	if u := dashboardURL("127.0.0.1:15090", false); u != "http://127.0.0.1:15090/" {
		t.Errorf("url %q", u)
	}
	if u := dashboardURL("10.0.0.1:443", true); u != "https://10.0.0.1:443/" {
		t.Errorf("url %q", u)
	}
	a := Addrs{DashboardURL: "http://127.0.0.1:15090/"}
	if l := a.DashboardLink("ab+c/="); l != "http://127.0.0.1:15090/#token=ab%2Bc%2F%3D" {
		t.Errorf("link %q", l)
	}
	if l := (Addrs{}).DashboardLink("x"); l != "" {
		t.Errorf("link of a dashboard that is off: %q", l)
	}
	for _, bad := range []string{"15090", "nohost"} {
		c := Config{Dashboard: bad, DataDir: "d", XDS: "a:1", API: "b:2", LeaseTTL: time.Second, StreamGrace: time.Second, CredentialsDir: "c"}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "dashboard: must be host:port") {
			t.Errorf("Validate(dashboard %q) = %v", bad, err)
		}
	}
	c := Config{Dashboard: "OFF", DataDir: "d", XDS: "a:1", API: "b:2", LeaseTTL: time.Second, StreamGrace: time.Second, CredentialsDir: "c"}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate(dashboard off) = %v", err)
	}
}

// TestDashboardServes: on loopback, plain HTTP with the page and the API
// (reads open, writes need the operator token), under the API port's
// per-IP connection cap.
func TestDashboardServes(t *testing.T) {
	a, stop := startCfg(t, Config{DataDir: t.TempDir(), Dashboard: "127.0.0.1:0", MaxConnsPerIP: 2})
	defer stop()
	if !strings.HasPrefix(a.DashboardURL, "http://127.0.0.1:") || a.Dashboard == "" {
		t.Fatalf("addrs %+v", a)
	}
	// The per-IP cap: with two connections from 127.0.0.1 held, a third
	// is closed at once.
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", a.Dashboard)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	third, err := net.Dial("tcp", a.Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection from one address was served")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a third connection from one address was held open, not closed")
	}
	third.Close()
	for _, c := range held {
		c.Close()
	}

	// One connection, reused (bodies read to the end), so the cap of two
	// is never in the way once the held ones are released.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	do := func(method, path, token, body string) (*http.Response, string) {
		t.Helper()
		var resp *http.Response
		waitFor(t, method+" "+path, func() bool {
			req, _ := http.NewRequest(method, a.DashboardURL+path, strings.NewReader(body))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			var err error
			resp, err = c.Do(req)
			return err == nil
		})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := do("GET", "", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "Weft dashboard") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("GET /: %s %v", resp.Status, resp.Header)
	}
	if resp, body = do("GET", "v1/stats", "", ""); resp.StatusCode != 200 || !strings.Contains(body, `"failures"`) {
		t.Fatalf("GET /v1/stats: %s %s", resp.Status, body)
	}
	if resp, body = do("POST", "v1/apply", "", "{}"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /v1/apply without the token: %s %s", resp.Status, body)
	}
	tok, err := os.ReadFile(a.OperatorTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	svc := `{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"x"},"spec":{"ports":[{"port":80}]}}`
	if resp, body = do("POST", "v1/apply?dryRun=true", strings.TrimSpace(string(tok)), svc); resp.StatusCode != 200 {
		t.Fatalf("POST /v1/apply with the token: %s %s", resp.Status, body)
	}
}

// TestDashboardTLSOffLoopback: on another address the dashboard serves
// TLS with the control plane's certificate, which its CA verifies.
func TestDashboardTLSOffLoopback(t *testing.T) {
	a, stop := startCfg(t, Config{DataDir: t.TempDir(), Dashboard: "0.0.0.0:0"})
	defer stop()
	if !strings.HasPrefix(a.DashboardURL, "https://") {
		t.Fatalf("url %q, want https", a.DashboardURL)
	}
	pem, err := os.ReadFile(a.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	_, port, _ := net.SplitHostPort(a.Dashboard)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := c.Get("https://127.0.0.1:" + port + "/")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET over TLS: %s", resp.Status)
	}
	if resp, err := http.Get("http://127.0.0.1:" + port + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served off loopback")
		}
	}
}
