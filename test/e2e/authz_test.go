package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const authzCatalog = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
`

// authzStatus sends one request straight to the catalog sidecar's inbound
// listener, as a peer sidecar would: its status and response flags.
func authzStatus(c *http.Client, inbound, method, path string) (int, string) {
	req, _ := http.NewRequest(method, "http://"+inbound+path, nil)
	req.Host = "catalog"
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags")
}

// TestAuthorizationPolicy applies AuthorizationPolicies through the CLI
// and measures how long each takes to be enforced by the catalog sidecar's
// inbound listener (control plane -> xDS -> sidecar), and that deleting
// it restores access. Callers here are plaintext (the port is PERMISSIVE):
// they have no identity,
// so an ALLOW policy for an identity denies them (identity itself, from
// real mTLS certificates, is covered by the proxy's tests).
func TestAuthorizationPolicy(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	if out, ok := weft(t, c.api, authzCatalog, "apply", "-f", "-"); !ok {
		t.Fatalf("apply service: %s", out)
	}
	app := startEcho(t, "catalog", "v1")
	admin, inbound := freePort(t), freePort(t)
	startSidecar(t, "catalog", admin, fmt.Sprintf(`node: catalog-1
service: catalog
admin: %s
inbound: [{name: http, listen: %s, app: %s, mtls: PERMISSIVE}]
register: {probe: {httpPath: /, interval: 200ms}}
controlPlane: {xds: [%s], api: [%s]}
`, admin, inbound, app, c.xds, c.api))
	client := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	eventually(t, 20*time.Second, "catalog reachable", func() bool {
		code, _ := authzStatus(client, inbound, "GET", "/items")
		return code == 200
	})

	if got := opaque(t, inbound); !strings.HasPrefix(got, "HTTP/1.1 400") {
		t.Fatalf("without policies opaque bytes should reach the app (its 400): got %q", got)
	}

	// inForce applies (or deletes) and measures the time until every
	// probe gives what it wants, polling every 5ms for at most 5s.
	type probe struct {
		method, path string
		code         int
		flags        string
	}
	inForce := func(what string, args []string, stdin string, probes ...probe) time.Duration {
		t.Helper()
		began := time.Now()
		if out, ok := weft(t, c.api, stdin, args...); !ok {
			t.Fatalf("%s: %s", what, out)
		}
		deadline := began.Add(5 * time.Second)
		for {
			all := true
			for _, p := range probes {
				if code, flags := authzStatus(client, inbound, p.method, p.path); code != p.code || flags != p.flags {
					all = false
					break
				}
			}
			if all {
				took := time.Since(began)
				t.Logf("%s: enforced %v after the weft command started", what, took)
				return took
			}
			if time.Now().After(deadline) {
				code, flags := authzStatus(client, inbound, probes[0].method, probes[0].path)
				t.Fatalf("%s: not in force after 5s (first probe: %d %q)", what, code, flags)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var worst time.Duration
	track := func(d time.Duration) { worst = max(worst, d) }

	denyAdmin := `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: deny-admin}
spec:
  targetRef: {name: catalog}
  action: DENY
  rules: [{to: [{operation: {paths: [/admin, /admin/*]}}]}]
`
	track(inForce("DENY /admin", []string{"apply", "-f", "-"}, denyAdmin,
		probe{"GET", "/admin", 403, "RBAC"}, probe{"GET", "//ADMIN/x", 403, "RBAC"}, probe{"GET", "/items", 200, ""}))
	// Bytes that are not HTTP go to the app as opaque TCP, which policies
	// cannot check: with a policy in force they are refused (without one
	// the app answers them itself, as checked before the policy).
	if got := opaque(t, inbound); got != "" {
		t.Fatalf("opaque bytes reached the app under a policy: %q", got)
	}
	track(inForce("delete DENY", []string{"delete", "authorizationpolicy", "deny-admin"}, "",
		probe{"GET", "/admin", 200, ""}))

	// An ALLOW policy for one identity: default deny for everyone else,
	// including this plaintext caller.
	allowWeb := `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: allow-web}
spec:
  targetRef: {name: catalog}
  rules: [{from: [{source: {principals: [spiffe://weft.local/ns/default/sa/web]}}]}]
`
	track(inForce("ALLOW web only", []string{"apply", "-f", "-"}, allowWeb, probe{"GET", "/items", 403, "RBAC"}))
	out, ok := weft(t, c.api, "", "explain", "--admin", admin, "--inbound", "http://catalog/items")
	if !ok || !strings.Contains(out, "Authorization: DENY") || !strings.Contains(out, "none of their rules matches") {
		t.Fatalf("weft explain --inbound:\n%s", out)
	}
	out, ok = weft(t, c.api, "", "explain", "--admin", admin, "--inbound", "--peer", "spiffe://weft.local/ns/default/sa/web", "http://catalog/items")
	if !ok || !strings.Contains(out, "Authorization: ALLOW") || !strings.Contains(out, "default/allow-web/rules[0]") {
		t.Fatalf("weft explain --inbound --peer web:\n%s", out)
	}
	t.Logf("weft explain --inbound --peer web:\n%s", out)

	// The same policy widened to GETs from anyone: GET passes, POST not.
	allowGets := strings.Replace(allowWeb, "rules: [{from: [{source: {principals: [spiffe://weft.local/ns/default/sa/web]}}]}]",
		"rules: [{to: [{operation: {methods: [GET]}}]}]", 1)
	track(inForce("ALLOW GET", []string{"apply", "-f", "-"}, allowGets,
		probe{"GET", "/items", 200, ""}, probe{"POST", "/items", 403, "RBAC"}))
	track(inForce("delete ALLOW", []string{"delete", "authorizationpolicy", "allow-web"}, "",
		probe{"GET", "/items", 200, ""}, probe{"POST", "/items", 200, ""}))

	metrics, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if !strings.Contains(string(body), `weft_authz_denied_total{policy="default/deny-admin/rules[0]"}`) ||
		!strings.Contains(string(body), `weft_authz_denied_total{policy="none"}`) {
		t.Errorf("metrics lack the denials:\n%s", grepLines(string(body), "weft_authz"))
	}
	t.Logf("slowest policy change to be enforced: %v", worst)
	if worst > time.Second {
		t.Errorf("a policy change took %v to be enforced, want at most 1s", worst)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// opaque sends bytes no HTTP parser accepts to addr and returns what came
// back before the connection closed.
func opaque(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("\x00\x01not http at all\r\n\r\n"))
	b, _ := io.ReadAll(c)
	return string(b)
}
