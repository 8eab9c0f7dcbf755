package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestServiceMTLSModeFromControlPlane: a Service's spec.mtls.mode, applied
// through the control plane, sets its sidecar's inbound mode over the
// sidecar's own (STRICT by default here): PERMISSIVE serves a plaintext
// caller and counts it (outcome="served", connection_security_policy
// "none"); STRICT applied next refuses the plaintext caller's next
// connection within a second (outcome="refused") while mTLS traffic from a
// frontend sidecar goes on with zero failures throughout. Removing
// spec.mtls gives the sidecar its own mode back.
func TestServiceMTLSModeFromControlPlane(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	svc := func(mode string) string {
		return "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec: {ports: [{port: 80}], mtls: {mode: " + mode + "}}\n"
	}
	if out, ok := weft(t, c.api, svc("PERMISSIVE"), "apply", "-f", "-"); !ok {
		t.Fatalf("apply PERMISSIVE: %s", out)
	}
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s]}\n", c.xds, c.api)
	app := startEcho(t, "catalog", "v1")
	catAdmin, inbound := freePort(t), freePort(t)
	// The bootstrap says nothing of mtls: STRICT, which the Service's
	// PERMISSIVE must override.
	startSidecar(t, "catalog", catAdmin, fmt.Sprintf(`node: catalog-1
service: catalog
admin: %s
identity: {tokenFile: %s}
inbound: [{name: http, listen: %s, app: %s}]
register: {probe: {httpPath: /, interval: 200ms}}
`, catAdmin, tokenFile(t, c.api, "catalog"), inbound, app)+cpYAML)
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
	eventually(t, 10*time.Second, "the pushed PERMISSIVE mode on the catalog sidecar's /config", func() bool {
		return inboundMTLSOf(catAdmin) == "PERMISSIVE/controlPlane"
	})

	if out, ok := weft(t, c.api, "", "describe", "service", "catalog"); !ok || !strings.Contains(out, "Inbound mTLS: PERMISSIVE (spec.mtls.mode") {
		t.Errorf("describe service catalog does not show the mode: %s", out)
	}

	// mTLS load through the frontend for the rest of the test: every
	// request must succeed, across both switches.
	var okN, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rep, _, err := get(mesh, "http://catalog/load", nil)
				if err != nil || !strings.HasSuffix(rep.Headers["X-Forwarded-Client-Cert"], "URI=spiffe://weft.local/ns/default/sa/frontend") {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%v %+v", err, rep))
					continue
				}
				okN.Add(1)
			}
		}()
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopLoad)

	const nPlain = 5
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range nPlain {
		if _, _, err := get(plain, "http://"+inbound+"/legacy", nil); err != nil {
			t.Fatalf("plaintext request %d to a PERMISSIVE Service: %v", i, err)
		}
	}
	eventually(t, 5*time.Second, "plaintext callers counted served, their requests as none", func() bool {
		return metricSum(t, catAdmin, "weft_inbound_plaintext_connections_total", `source="127.0.0.1"`, `outcome="served"`) == nPlain &&
			metricSum(t, catAdmin, "weft_requests_total", `reporter="destination"`, `connection_security_policy="none"`) == nPlain
	})

	if out, ok := weft(t, c.api, svc("STRICT"), "apply", "-f", "-"); !ok {
		t.Fatalf("apply STRICT: %s", out)
	}
	applied := time.Now()
	eventually(t, 5*time.Second, "STRICT from the control plane on the catalog sidecar's /config", func() bool {
		return inboundMTLSOf(catAdmin) == "STRICT/controlPlane"
	})
	took := time.Since(applied)
	if took > time.Second {
		t.Errorf("the catalog sidecar took %v to take STRICT, want within a second", took)
	}
	// The mode is read at each accept: the very next plaintext connection
	// is refused.
	if !plaintextRefused(inbound) {
		t.Fatalf("a plaintext connection after STRICT was answered")
	}
	if n := metricSum(t, catAdmin, "weft_inbound_plaintext_connections_total", `source="127.0.0.1"`, `outcome="refused"`); n < 1 {
		t.Errorf("refused plaintext connections %v, want >= 1", n)
	}
	if out, ok := weft(t, c.api, "", "explain", "--admin", catAdmin, "--inbound", "http://catalog/items"); !ok ||
		!strings.Contains(out, "Inbound mTLS: STRICT (set by controlPlane)") || !strings.Contains(out, "a plaintext caller is refused at the connection") {
		t.Errorf("weft explain --inbound after STRICT:\n%s", out)
	}
	before := okN.Load()
	eventually(t, 10*time.Second, "mTLS traffic goes on after STRICT", func() bool { return okN.Load() >= before+20 })
	// Unset: the sidecar's own mode (STRICT here) is back in force.
	if out, ok := weft(t, c.api, "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec: {ports: [{port: 80}]}\n", "apply", "-f", "-"); !ok {
		t.Fatalf("apply without mtls: %s", out)
	}
	eventually(t, 5*time.Second, "the bootstrap's mode back once spec.mtls is gone", func() bool {
		return inboundMTLSOf(catAdmin) == "STRICT/bootstrap"
	})
	stopLoad()
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d of %d mTLS requests failed across the switches; first: %v", f, f+okN.Load(), firstErr.Load())
	}
	if n := metricSum(t, catAdmin, "weft_requests_total", `reporter="destination"`, `connection_security_policy="none"`); n != nPlain {
		t.Errorf("plaintext requests served in all: %v, want %d", n, nPlain)
	}
	t.Logf("mTLS requests through the switches: %d, failed 0; STRICT in force %v after the apply", okN.Load(), took)
}

// inboundMTLSOf is the first inbound's mode/source on a sidecar's /config.
func inboundMTLSOf(admin string) string {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + admin + "/config")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var d struct {
		InboundMTLS []struct{ Mode, Source string } `json:"inboundMTLS"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || len(d.InboundMTLS) == 0 {
		return fmt.Sprintf("none (%v)", err)
	}
	return d.InboundMTLS[0].Mode + "/" + d.InboundMTLS[0].Source
}
