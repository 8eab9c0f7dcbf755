package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// certView is the certificate part of a sidecar's /config.
type certView struct {
	State           string    `json:"state"`
	NotAfter        time.Time `json:"notAfter"`
	Left            string    `json:"left"`
	RenewalFailures uint64    `json:"renewalFailures"`
	LastError       string    `json:"lastError"`
}

func sidecarCert(t *testing.T, admin string) certView {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Certificate *certView `json:"certificate"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.Certificate == nil {
		t.Fatalf("%s /config: no certificate (%v)", admin, err)
	}
	return *d.Certificate
}

// readyBody is a sidecar's /ready status and body.
func readyBody(admin string) (int, string) {
	resp, err := http.Get("http://" + admin + "/ready")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// uses2Token is a join token for service admitting two enrolments: the
// first at start, the second after the certificate expired (an expired
// certificate cannot renew itself; the sidecar re-reads its token file).
func uses2Token(t *testing.T, api, service string) string {
	t.Helper()
	out, ok := weftOut(t, api, "token", "create", "--service", service, "--ttl", "1h", "--uses", "2")
	if !ok {
		t.Fatalf("token create: %s", out)
	}
	path := filepath.Join(t.TempDir(), service+".token")
	if err := os.WriteFile(path, []byte(strings.TrimSpace(out)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestControlPlaneDownCertificates: with 20 s certificates, killing the
// control plane (SIGKILL) leaves mTLS traffic between two sidecars
// flowing with zero failures while the certificates are valid; before
// they expire each sidecar warns (weft_sidecar_cert_expiring=1, renewal
// failures counted, /ready and /config say EXPIRING, a warning log with
// the time left). After expiry the mesh fails closed: a new mTLS
// handshake is refused (an expired leaf) and the sidecars say EXPIRED
// (gauge, /ready 503). A control plane restarted on the same data dir
// re-issues certificates and traffic recovers, no sidecar restarted.
func TestControlPlaneDownCertificates(t *testing.T) {
	const ttl = 20 * time.Second
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"), "--svid-ttl", ttl.String())
	svc := "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec: {ports: [{port: 80}]}\n"
	if out, ok := weft(t, c.api, svc, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s]}\n", c.xds, c.api)
	app := startEcho(t, "catalog", "v1")
	catAdmin := freePort(t)
	cat, _ := startSidecar(t, "catalog", catAdmin, fmt.Sprintf(`node: catalog-1
service: catalog
admin: %s
identity: {tokenFile: %s}
inbound: [{name: http, listen: %s, app: %s}]
register: {probe: {httpPath: /, interval: 200ms}}
`, catAdmin, uses2Token(t, c.api, "catalog"), freePort(t), app)+cpYAML)
	frontAdmin, frontProxy := freePort(t), freePort(t)
	front, _ := startSidecar(t, "frontend", frontAdmin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
identity: {tokenFile: %s}
outbound: {proxy: %s}
`, frontAdmin, uses2Token(t, c.api, "frontend"), frontProxy)+cpYAML)
	admins := map[string]string{"catalog": catAdmin, "frontend": frontAdmin}
	eventually(t, 20*time.Second, "catalog reachable through the mesh", func() bool {
		_, _, err := get(proxyClient(t, frontProxy), "http://catalog/x", nil)
		return err == nil
	})
	for name, a := range admins {
		if cv := sidecarCert(t, a); cv.State != "VALID" {
			t.Fatalf("%s certificate before the outage: %+v", name, cv)
		}
	}

	// Steady load: two clients, one of them on a fresh connection to the
	// frontend sidecar per request.
	load := startBackToBack(t, frontProxy, "http://catalog/load", 2)

	c.kill(t)
	killed := time.Now()
	// The earliest expiry of the two: traffic must flow until then.
	expiry := sidecarCert(t, catAdmin).NotAfter
	if f := sidecarCert(t, frontAdmin).NotAfter; f.Before(expiry) {
		expiry = f
	}
	latest := sidecarCert(t, catAdmin).NotAfter
	if f := sidecarCert(t, frontAdmin).NotAfter; f.After(latest) {
		latest = f
	}
	t.Logf("control plane killed; certificates expire in %v and %v", time.Until(expiry).Round(time.Millisecond), time.Until(latest).Round(time.Millisecond))
	if time.Until(expiry) < ttl/2-2*time.Second {
		t.Fatalf("a certificate had %v left when the control plane died: renewal at half-life should leave about %v", time.Until(expiry), ttl/2)
	}

	// Before expiry, each sidecar warns: the gauge, the counter, /ready's
	// body and /config, and a log line with the time left.
	warnedAt := map[string]time.Duration{}
	eventually(t, time.Until(expiry), "both sidecars warn before their certificates expire", func() bool {
		for name, a := range admins {
			if _, done := warnedAt[name]; done {
				continue
			}
			if metricSum(t, a, "weft_sidecar_cert_expiring") == 1 {
				warnedAt[name] = time.Until(sidecarCert(t, a).NotAfter)
			}
		}
		return len(warnedAt) == len(admins)
	})
	for name, a := range admins {
		cv := sidecarCert(t, a)
		if cv.State != "EXPIRING" || cv.RenewalFailures == 0 || cv.LastError == "" {
			t.Errorf("%s /config before expiry: %+v, want EXPIRING with renewal failures and the last error", name, cv)
		}
		if n := metricSum(t, a, "weft_sidecar_cert_renewal_failures_total"); n < 1 {
			t.Errorf("%s renewal failures %v before expiry", name, n)
		}
		if code, body := readyBody(a); code != 200 || !strings.Contains(body, "EXPIRING") {
			t.Errorf("%s /ready while expiring: %d %q: want ready, saying EXPIRING", name, code, body)
		}
	}
	t.Logf("warned with %v (catalog) and %v (frontend) left", warnedAt["catalog"].Round(time.Millisecond), warnedAt["frontend"].Round(time.Millisecond))

	// Load runs until just before the first expiry: no failure at all.
	time.Sleep(time.Until(expiry.Add(-time.Second))) // the load's duration; the checks are on counts
	ok, failed, firstErr := load.halt()
	t.Logf("%d requests in %v with the control plane down, %d failed", ok+failed, time.Since(killed).Round(time.Millisecond), failed)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed with valid certificates and the control plane down; first: %v", failed, ok+failed, firstErr)
	}
	if ok < 100 {
		t.Fatalf("only %d requests with the control plane down", ok)
	}
	for _, p := range []*proc{cat, front} {
		if !regexp.MustCompile(`certificate expires soon and cannot be renewed.*timeLeft=[0-9]`).MatchString(p.output()) {
			t.Errorf("%s logged no warning with the time left", p.name)
		}
	}

	// After expiry: fail closed. A new mTLS connection (HTTP/2 from the
	// app opens one: nothing was pooled for h2) is refused by the caller,
	// which sees the callee's expired leaf; both sidecars say EXPIRED.
	eventually(t, time.Until(latest)+5*time.Second, "both certificates reported expired", func() bool {
		return metricSum(t, catAdmin, "weft_sidecar_cert_expired") == 1 && metricSum(t, frontAdmin, "weft_sidecar_cert_expired") == 1
	})
	for name, a := range admins {
		if code, body := readyBody(a); code != http.StatusServiceUnavailable || !strings.Contains(body, "EXPIRED") {
			t.Errorf("%s /ready after expiry: %d %q: want 503 EXPIRED", name, code, body)
		}
		if cv := sidecarCert(t, a); cv.State != "EXPIRED" {
			t.Errorf("%s /config after expiry: %+v", name, cv)
		}
	}
	refusedBefore := metricSum(t, frontAdmin, "weft_tls_handshakes_total", `side="client"`, `result="refused"`)
	if code, err := h2Get(frontProxy, "catalog"); err == nil && code == 200 {
		t.Fatal("a new mTLS connection succeeded with expired certificates")
	}
	if got := metricSum(t, frontAdmin, "weft_tls_handshakes_total", `side="client"`, `result="refused"`); got <= refusedBefore {
		t.Errorf("client handshakes refused %v -> %v: the expired callee's leaf was not refused", refusedBefore, got)
	}

	// The control plane comes back on the same data dir (same root): the
	// sidecars re-enrol by themselves and traffic recovers.
	c.restart(t)
	eventually(t, 60*time.Second, "both certificates valid again", func() bool {
		return sidecarCert(t, catAdmin).State == "VALID" && sidecarCert(t, frontAdmin).State == "VALID"
	})
	eventually(t, 60*time.Second, "traffic recovered over HTTP/1.1 and a fresh HTTP/2 connection", func() bool {
		_, _, err := get(proxyClient(t, frontProxy), "http://catalog/back", nil)
		code, herr := h2Get(frontProxy, "catalog")
		return err == nil && herr == nil && code == 200
	})
	cl := proxyClient(t, frontProxy)
	for i := range 50 {
		if _, _, err := get(cl, "http://catalog/after", nil); err != nil {
			t.Fatalf("request %d after recovery: %v", i, err)
		}
	}
	for name, a := range admins {
		if metricSum(t, a, "weft_sidecar_cert_expiring") != 0 || metricSum(t, a, "weft_sidecar_cert_expired") != 0 {
			t.Errorf("%s still warns after renewal", name)
		}
		if code, body := readyBody(a); code != 200 || body != "ready\n" {
			t.Errorf("%s /ready after recovery: %d %q", name, code, body)
		}
	}
}

// h2Get sends one prior-knowledge HTTP/2 request for host through the
// sidecar's outbound proxy port, on a connection of its own.
func h2Get(proxyAddr, host string) (int, error) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://"+proxyAddr+"/h2", nil)
	req.Host = host
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: tr}).Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
