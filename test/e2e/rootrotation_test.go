package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// caStatus is what `weft ca status -o json` prints.
type caStatus struct {
	Phase string `json:"phase"`
	Roots []struct {
		Pin string `json:"pin"`
	} `json:"roots"`
}

func readCAStatus(t *testing.T, api string) caStatus {
	t.Helper()
	out, ok := weftOut(t, api, "ca", "status", "-o", "json")
	if !ok {
		t.Fatalf("weft ca status: %s", out)
	}
	var st caStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("weft ca status: %v: %s", err, out)
	}
	return st
}

// wireLeaf connects to an mTLS inbound port and returns the certificate
// the sidecar presents: what its peers see on the wire. It sends no client
// certificate, so the sidecar refuses the connection after showing it.
func wireLeaf(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	var leaf *x509.Certificate
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, //nolint:gosec // the certificate is the thing inspected
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			c, err := x509.ParseCertificate(raw[0])
			leaf = c
			return err
		}}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err == nil {
		conn.Close()
	}
	if leaf == nil {
		t.Fatalf("no certificate from %s: %v", addr, err)
	}
	return leaf
}

// mintLeaf gets an SVID for service the way a new sidecar does (a join
// token and a CSR) and returns it with its key, for a client of its own.
func mintLeaf(t *testing.T, api, creds, service string) tls.Certificate {
	t.Helper()
	tokFile := joinTokenFile(t, api, service)
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), "token": strings.TrimSpace(string(tok))})
	c := cpHTTP(creds)
	defer c.CloseIdleConnections()
	resp, err := c.Post("https://"+api+"/v1/svid", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("svid: %d %s", resp.StatusCode, b)
	}
	var svid struct {
		Chain string `json:"chain"`
	}
	if err := json.Unmarshal(b, &svid); err != nil {
		t.Fatal(err)
	}
	var out tls.Certificate
	rest := []byte(svid.Chain)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		out.Certificate = append(out.Certificate, blk.Bytes)
	}
	out.PrivateKey = key
	out.Leaf, err = x509.ParseCertificate(out.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// callWith makes one HTTP/1.1 request over mTLS to an inbound port,
// presenting cert; it returns the status or the error (a refused
// certificate surfaces on the first read under TLS 1.3).
func callWith(addr string, cert tls.Certificate) (int, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, //nolint:gosec // the server's identity is not what this checks
		Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get("https://" + addr + "/probe")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func signedBy(leaf, root *x509.Certificate) bool { return leaf.CheckSignatureFrom(root) == nil }

func caPEMCount(t *testing.T, creds string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(creds, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("BEGIN CERTIFICATE"))
}

// TestRootRotationUnderLoad rotates the CA's root under steady load
// through an mTLS hop between two sidecars: `weft ca rotate` announces a
// new root in the bundle (pushed over SDS), the new root signs once both
// sidecars ACKed it and both renew onto it at once (seen on the wire),
// the control plane is killed and restarted in the overlap, then `weft ca
// rotate --finish` drops the old root. No request may fail.
// A certificate of the old root, accepted during the overlap, is refused
// once it is over, while one of the new root is accepted.
func TestRootRotationUnderLoad(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--svid-ttl", "1h", "--root-overlap", "1h", "--root-propagation", "30s")
	svc := "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec: {ports: [{port: 80}]}\n"
	if out, ok := weft(t, c.api, svc, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s]}\n", c.xds, c.api)
	catAdmin, catIn := freePort(t), freePort(t)
	cat, _ := startSidecar(t, "catalog", catAdmin, fmt.Sprintf(`node: catalog-1
service: catalog
admin: %s
identity: {tokenFile: %s}
inbound: [{name: http, listen: %s, app: %s}]
register: {probe: {httpPath: /, interval: 200ms}}
`, catAdmin, tokenFile(t, c.api, "catalog"), catIn, startEcho(t, "catalog", "v1"))+cpYAML)
	frontAdmin, frontProxy, frontIn := freePort(t), freePort(t), freePort(t)
	front, _ := startSidecar(t, "frontend", frontAdmin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
identity: {tokenFile: %s}
inbound: [{name: http, listen: %s, app: %s}]
outbound: {proxy: %s}
`, frontAdmin, tokenFile(t, c.api, "frontend"), frontIn, startEcho(t, "frontend", "v1"), frontProxy)+cpYAML)
	eventually(t, 20*time.Second, "catalog reachable through the mesh", func() bool {
		_, _, err := get(proxyClient(t, frontProxy), "http://catalog/x", nil)
		return err == nil
	})

	before := readCAStatus(t, c.api)
	if before.Phase != "none" || len(before.Roots) != 1 {
		t.Fatalf("before: %+v", before)
	}
	bundle := func() []*x509.Certificate {
		cl := cpHTTP(c.creds)
		defer cl.CloseIdleConnections()
		resp, err := cl.Get("https://" + c.api + "/v1/bundle")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b struct {
			Roots string `json:"roots"`
		}
		json.NewDecoder(resp.Body).Decode(&b)
		var out []*x509.Certificate
		rest := []byte(b.Roots)
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				return out
			}
			r, _ := x509.ParseCertificate(blk.Bytes)
			out = append(out, r)
		}
	}
	oldRoot := bundle()[0]
	for _, in := range []string{catIn, frontIn} {
		if l := wireLeaf(t, in); !signedBy(l, oldRoot) {
			t.Fatalf("%s serves a leaf of %s before the rotation", in, l.Issuer)
		}
	}
	// A workload certificate of the old root, held by the test.
	oldLeaf := mintLeaf(t, c.api, c.creds, "frontend")
	if code, err := callWith(catIn, oldLeaf); err != nil || code != 200 {
		t.Fatalf("old-root leaf before the rotation: %d, %v", code, err)
	}

	load := startBackToBack(t, frontProxy, "http://catalog/r", 4)
	count := func() (int, int) { n, f, _ := load.counts(); return n, f }
	eventually(t, 10*time.Second, "load running", func() bool { n, _ := count(); return n > 50 })

	// Phase 1: the new root joins the bundle; once both sidecars ACK it
	// the new root signs and both renew onto it.
	if out, ok := weft(t, c.api, "", "ca", "rotate"); !ok {
		t.Fatalf("weft ca rotate: %s", out)
	}
	if out, ok := weft(t, c.api, "", "ca", "rotate"); ok || !strings.Contains(out, "already") {
		t.Fatalf("a second rotate during a rotation: %s", out)
	}
	eventually(t, 40*time.Second, "the new root signing (phase overlap)", func() bool { return readCAStatus(t, c.api).Phase == "overlap" })
	b := bundle()
	if len(b) != 2 || !b[1].Equal(oldRoot) {
		t.Fatalf("overlap bundle: %d roots, old second %v", len(b), len(b) == 2 && b[1].Equal(oldRoot))
	}
	newRoot := b[0]
	for _, admin := range []string{catAdmin, frontAdmin} {
		if n := metricSum(t, admin, "weft_sidecar_trust_bundle_roots"); n != 2 {
			t.Fatalf("sidecar %s trusts %v roots during the overlap, want 2", admin, n)
		}
	}
	if n := caPEMCount(t, c.creds); n != 2 {
		t.Fatalf("ca.pem holds %d roots during the overlap, want 2", n)
	}
	for _, in := range []string{catIn, frontIn} {
		eventually(t, 15*time.Second, in+" serving a leaf of the new root", func() bool { return signedBy(wireLeaf(t, in), newRoot) })
	}
	// During the overlap the old root is still trusted.
	if code, err := callWith(catIn, oldLeaf); err != nil || code != 200 {
		t.Fatalf("old-root leaf during the overlap: %d, %v", code, err)
	}
	// The rotation's state is in the store: a control plane killed in
	// the overlap comes back in it, and the sidecars reconnect to it with
	// their new-root certificates.
	overlap := readCAStatus(t, c.api)
	c.kill(t)
	c.restart(t)
	if again := readCAStatus(t, c.api); again.Phase != "overlap" || len(again.Roots) != 2 || again.Roots[0].Pin != overlap.Roots[0].Pin || again.Roots[1].Pin != overlap.Roots[1].Pin {
		t.Fatalf("after a restart in the overlap: %+v, before %+v", again, overlap)
	}
	mid, _ := count()

	// Phase 2: the old root leaves the bundle.
	if out, ok := weft(t, c.api, "", "ca", "rotate", "--finish"); !ok {
		t.Fatalf("weft ca rotate --finish: %s", out)
	}
	after := readCAStatus(t, c.api) // the CLI verifies the new serving certificate with ca.pem
	if after.Phase != "none" || len(after.Roots) != 1 {
		t.Fatalf("after finish: %+v", after)
	}
	if n := caPEMCount(t, c.creds); n != 1 {
		t.Fatalf("ca.pem holds %d roots after finish, want 1", n)
	}
	for _, admin := range []string{catAdmin, frontAdmin} {
		eventually(t, 10*time.Second, "the finished bundle pushed to "+admin, func() bool { return metricSum(t, admin, "weft_sidecar_trust_bundle_roots") == 1 })
	}
	eventually(t, 10*time.Second, "catalog refusing the old root's leaf", func() bool {
		_, err := callWith(catIn, oldLeaf)
		return err != nil
	})
	newLeaf := mintLeaf(t, c.api, c.creds, "frontend")
	if !signedBy(newLeaf.Leaf, newRoot) {
		t.Fatal("a certificate issued after the rotation is not of the new root")
	}
	if code, err := callWith(catIn, newLeaf); err != nil || code != 200 {
		t.Fatalf("new-root leaf after finish: %d, %v", code, err)
	}
	// Load keeps running past the finish, on new handshakes too.
	eventually(t, 10*time.Second, "requests after the finish", func() bool { n, _ := count(); return n > mid+200 })
	n, f, firstErr := load.halt()
	t.Logf("%d requests, %d failed; catalog: %d certificates issued, frontend: %d", n+f, f,
		strings.Count(cat.output(), "certificate issued"), strings.Count(front.output(), "certificate issued"))
	if f != 0 {
		t.Fatalf("%d of %d requests failed across the root rotation; first: %v", f, n+f, firstErr)
	}
	for _, in := range []string{catIn, frontIn} {
		if l := wireLeaf(t, in); !signedBy(l, newRoot) {
			t.Fatalf("%s serves a leaf of %s after the rotation", in, l.Issuer)
		}
	}
	if r := metricSum(t, catAdmin, "weft_tls_handshakes_total", `side="server"`, `result="refused"`); r < 1 {
		t.Fatalf("catalog counted %v refused handshakes; the old leaf was refused", r)
	}
}
