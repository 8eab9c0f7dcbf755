package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPermissiveReportsPlaintextCallers: a PERMISSIVE inbound serves a
// mesh caller over mTLS and a plaintext caller alike, and reports which is
// which: the plaintext caller's source address in
// weft_inbound_plaintext_connections_total{outcome="served"}, and
// connection_security_policy="none" (no principal) on its requests against
// "mutual_tls" (the caller's SPIFFE ID) for the sidecar's. Switching the
// port to STRICT in the sidecar's file (SIGHUP) refuses the plaintext
// caller from its next connection, counted as refused, while mTLS traffic
// goes on.
func TestPermissiveReportsPlaintextCallers(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	svc := "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec: {ports: [{port: 80}]}\n"
	if out, ok := weft(t, c.api, svc, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s]}\n", c.xds, c.api)
	app := startEcho(t, "catalog", "v1")
	catAdmin, inbound := freePort(t), freePort(t)
	catCfg := func(mode string) string {
		return fmt.Sprintf(`node: catalog-1
service: catalog
admin: %s
inbound: [{name: http, listen: %s, app: %s, mtls: %s}]
register: {probe: {httpPath: /, interval: 200ms}}
`, catAdmin, inbound, app, mode) + cpYAML
	}
	catTok := tokenFile(t, c.api, "catalog")
	cat, catPath := startSidecar(t, "catalog", catAdmin, catCfg("PERMISSIVE")+fmt.Sprintf("identity: {tokenFile: %s}\n", catTok))
	frontAdmin, frontProxy := freePort(t), freePort(t)
	startSidecar(t, "frontend", frontAdmin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
identity: {tokenFile: %s}
outbound: {proxy: %s}
`, frontAdmin, tokenFile(t, c.api, "frontend"), frontProxy)+cpYAML)
	mesh := proxyClient(t, frontProxy)
	eventually(t, 20*time.Second, "catalog reachable through the mesh", func() bool {
		_, _, err := get(mesh, "http://catalog/warm", nil)
		return err == nil
	})

	const nMesh, nPlain = 20, 7
	for i := range nMesh {
		if rep, _, err := get(mesh, "http://catalog/mesh", nil); err != nil || !strings.HasSuffix(rep.Headers["X-Forwarded-Client-Cert"], "URI=spiffe://weft.local/ns/default/sa/frontend") {
			t.Fatalf("mesh request %d: %v %+v", i, err, rep)
		}
	}
	// The plaintext caller: straight to the inbound, a connection per
	// request, as a workload not yet in the mesh would.
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range nPlain {
		rep, _, err := get(plain, "http://"+inbound+"/legacy", nil)
		if err != nil {
			t.Fatalf("plaintext request %d to a PERMISSIVE port: %v", i, err)
		}
		if xfcc := rep.Headers["X-Forwarded-Client-Cert"]; xfcc != "" {
			t.Fatalf("a plaintext request carried XFCC %q", xfcc)
		}
	}

	eventually(t, 5*time.Second, "plaintext and mTLS requests reported apart", func() bool {
		return metricSum(t, catAdmin, "weft_requests_total", `reporter="destination"`, `connection_security_policy="none"`) == nPlain &&
			metricSum(t, catAdmin, "weft_requests_total", `reporter="destination"`, `connection_security_policy="mutual_tls"`) >= nMesh
	})
	if n := metricSum(t, catAdmin, "weft_requests_total", `reporter="destination"`, `connection_security_policy="mutual_tls"`, `source_principal="spiffe://weft.local/ns/default/sa/frontend"`); n < nMesh {
		t.Errorf("mTLS requests with the frontend's principal: %v, want >= %d", n, nMesh)
	}
	if n := metricSum(t, catAdmin, "weft_requests_total", `reporter="destination"`, `connection_security_policy="none"`, `source_principal="unknown"`); n != nPlain {
		t.Errorf("plaintext requests without a principal: %v, want %d", n, nPlain)
	}
	if n := metricSum(t, catAdmin, "weft_inbound_plaintext_connections_total", `source="127.0.0.1"`, `outcome="served"`); n != nPlain {
		t.Errorf("plaintext connections served from 127.0.0.1: %v, want %d (one per request)", n, nPlain)
	}

	// STRICT from the next connection: the file changes, SIGHUP reloads it.
	if err := os.WriteFile(catPath, []byte(catCfg("STRICT")+fmt.Sprintf("identity: {tokenFile: %s}\n", catTok)), 0o600); err != nil {
		t.Fatal(err)
	}
	cat.signal(t, syscall.SIGHUP)
	// Wait for the reload itself: a probe sent before it would be served,
	// and counted with the plaintext requests.
	eventually(t, 10*time.Second, "the reload in place (STRICT on /config)", func() bool {
		return inboundMTLSOf(catAdmin) == "STRICT/bootstrap"
	})
	if !plaintextRefused(inbound) {
		t.Fatal("a plaintext request after the switch to STRICT was answered")
	}
	if n := metricSum(t, catAdmin, "weft_inbound_plaintext_connections_total", `source="127.0.0.1"`, `outcome="refused"`); n < 1 {
		t.Errorf("refused plaintext connections %v, want >= 1", n)
	}
	for i := range nMesh {
		if _, _, err := get(mesh, "http://catalog/strict", nil); err != nil {
			t.Fatalf("mesh request %d after the switch to STRICT: %v", i, err)
		}
	}
	if n := metricSum(t, catAdmin, "weft_requests_total", `reporter="destination"`, `connection_security_policy="none"`); n != nPlain {
		t.Errorf("plaintext requests served after STRICT: %v in all, want still %d", n, nPlain)
	}
}

// plaintextRefused reports whether a plaintext HTTP request to addr gets
// no answer at all (the STRICT port closes it unanswered).
func plaintextRefused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET /legacy HTTP/1.1\r\nHost: catalog\r\n\r\n")
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false // silence is not a refusal
	}
	return len(b) == 0
}
