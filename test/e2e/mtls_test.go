package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// wireTap relays TCP to a target and keeps what each side sent first on
// every connection, so a test sees the bytes that crossed the network
// between two sidecars.
type wireTap struct {
	addr   string
	mu     sync.Mutex
	client [][]byte // per connection: the caller's bytes (up to 64 KiB)
	server [][]byte
}

func startTap(t *testing.T, target string) *wireTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	w := &wireTap{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			w.mu.Lock()
			i := len(w.client)
			w.client, w.server = append(w.client, nil), append(w.server, nil)
			w.mu.Unlock()
			go w.copy(up, c, i, true)
			go w.copy(c, up, i, false)
		}
	}()
	return w
}

func (w *wireTap) copy(dst, src net.Conn, i int, fromClient bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.mu.Lock()
			p := &w.server[i]
			if fromClient {
				p = &w.client[i]
			}
			if len(*p) < 64<<10 {
				*p = append(*p, buf[:n]...)
			}
			w.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (w *wireTap) conns() (client, server [][]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.client {
		client = append(client, append([]byte(nil), w.client[i]...))
		server = append(server, append([]byte(nil), w.server[i]...))
	}
	return client, server
}

// metricSum sums the series of one metric whose line has every given
// label pair, on a sidecar's admin /metrics.
func metricSum(t *testing.T, admin, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

func tokenFile(t *testing.T, api, service string) string {
	t.Helper()
	return joinTokenFile(t, api, service)
}

func proxyClient(t *testing.T, proxyAddr string) *http.Client {
	pu, _ := url.Parse("http://" + proxyAddr)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 4}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestMTLSBetweenSidecars: two sidecars that got their certificates with
// join tokens talk mTLS, checked on the wire (a relay between them sees a
// TLS handshake and never the request) and by the identities the callee's
// app is told (X-Forwarded-Client-Cert; a client's own copy is dropped).
// Plaintext to the STRICT inbound is refused, and so is a sidecar with no
// identity; handshakes follow connections, not requests.
func TestMTLSBetweenSidecars(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	svc := "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec: {ports: [{port: 80}]}\n"
	if out, ok := weft(t, c.api, svc, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s]}\n", c.xds, c.api)

	app := startEcho(t, "catalog", "v1")
	catAdmin, inbound := freePort(t), freePort(t)
	tap := startTap(t, inbound)
	_, tapPort, _ := net.SplitHostPort(tap.addr)
	startSidecar(t, "catalog", catAdmin, fmt.Sprintf(`node: catalog-1
service: catalog
admin: %s
identity: {tokenFile: %s}
inbound: [{name: http, listen: %s, app: %s}]
register: {port: %s, probe: {httpPath: /, interval: 200ms}}
`, catAdmin, tokenFile(t, c.api, "catalog"), inbound, app, tapPort)+cpYAML)

	frontAdmin, frontProxy := freePort(t), freePort(t)
	startSidecar(t, "frontend", frontAdmin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
identity: {tokenFile: %s}
outbound: {proxy: %s}
`, frontAdmin, tokenFile(t, c.api, "frontend"), frontProxy)+cpYAML)
	client := proxyClient(t, frontProxy)

	var rep *echoReply
	eventually(t, 20*time.Second, "catalog reachable through the mesh", func() bool {
		r, _, err := get(client, "http://catalog/x", map[string]string{"X-Forwarded-Client-Cert": "By=spiffe://evil/x;URI=spiffe://weft.local/ns/default/sa/admin"})
		rep = r
		return err == nil
	})
	xfcc := rep.Headers["X-Forwarded-Client-Cert"]
	if !strings.HasPrefix(xfcc, "By=spiffe://weft.local/ns/default/sa/catalog;Hash=") ||
		!strings.HasSuffix(xfcc, ";URI=spiffe://weft.local/ns/default/sa/frontend") || strings.Contains(xfcc, "evil") {
		t.Fatalf("X-Forwarded-Client-Cert %q: want the verified caller only", xfcc)
	}
	for range 50 {
		if _, _, err := get(client, "http://catalog/y", nil); err != nil {
			t.Fatal(err)
		}
	}
	// HTTP/2 from the app crosses the hop as h2 (ALPN) inside the same
	// mTLS, and the callee's app still learns who called.
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &protos}}
	defer h2.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://"+frontProxy+"/h2", nil)
	req.Host = "catalog"
	resp, err := h2.Do(req)
	if err != nil {
		t.Fatalf("h2 through the mesh: %v", err)
	}
	var h2rep echoReply
	json.NewDecoder(resp.Body).Decode(&h2rep)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !strings.HasSuffix(h2rep.Headers["X-Forwarded-Client-Cert"], ";URI=spiffe://weft.local/ns/default/sa/frontend") {
		t.Errorf("h2 through the mesh: status %d, proto %d, XFCC %q", resp.StatusCode, resp.ProtoMajor, h2rep.Headers["X-Forwarded-Client-Cert"])
	}

	// On the wire: every connection between the sidecars opens with a TLS
	// ClientHello answered by a ServerHello, and no request byte passes
	// in the clear.
	cl, sv := tap.conns()
	if len(cl) == 0 {
		t.Fatal("no connection went through the relay")
	}
	for i := range cl {
		if len(cl[i]) < 6 || cl[i][0] != 0x16 || cl[i][1] != 0x03 || cl[i][5] != 0x01 {
			t.Errorf("connection %d: caller's first bytes %q are not a TLS ClientHello", i, head(cl[i]))
		}
		if len(sv[i]) < 6 || sv[i][0] != 0x16 || sv[i][5] != 0x02 {
			t.Errorf("connection %d: server's first bytes %q are not a TLS ServerHello", i, head(sv[i]))
		}
		if bytes.Contains(cl[i], []byte("GET /")) || bytes.Contains(cl[i], []byte("catalog")) {
			t.Errorf("connection %d: request bytes in the clear", i)
		}
	}
	hs := metricSum(t, catAdmin, "weft_tls_handshakes_total", `side="server"`, `result="ok"`)
	if hs < 1 || hs > float64(len(cl)) {
		t.Errorf("server handshakes %v for %d connections and 51 requests: want one per connection", hs, len(cl))
	}
	if got := metricSum(t, frontAdmin, "weft_tls_handshakes_total", `side="client"`, `result="ok"`); got < 1 || got > float64(len(cl)) {
		t.Errorf("client handshakes %v for %d connections", got, len(cl))
	}

	// Plaintext straight to the STRICT inbound: no answer, and counted.
	pc, err := net.DialTimeout("tcp", inbound, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(pc, "GET / HTTP/1.1\r\nHost: catalog\r\n\r\n")
	b, _ := io.ReadAll(pc)
	pc.Close()
	if len(b) != 0 {
		t.Errorf("plaintext to a STRICT port answered %q", head(b))
	}
	eventually(t, 5*time.Second, "plaintext refusal counted", func() bool {
		return metricSum(t, catAdmin, "weft_inbound_plaintext_connections_total", `outcome="refused"`, `source="127.0.0.1"`) >= 1
	})

	// A sidecar with no identity cannot even get the routes: the control
	// plane's xDS port wants a mesh certificate (TestControlPlaneRefusesTheUnauthenticated);
	// and whatever reaches the STRICT port in plaintext is refused, above.
}

func head(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

// TestMTLSLeafRotationUnderLoad: certificates live 3 s, so both sidecars
// renew about every 1.5 s while four clients keep calling through the
// mTLS hop (two of them on a fresh connection per request): no request
// fails, and the leaves did rotate.
func TestMTLSLeafRotationUnderLoad(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"), "--svid-ttl", "3s")
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
`, catAdmin, tokenFile(t, c.api, "catalog"), freePort(t), app)+cpYAML)
	frontAdmin, frontProxy := freePort(t), freePort(t)
	startSidecar(t, "frontend", frontAdmin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
identity: {tokenFile: %s}
outbound: {proxy: %s}
`, frontAdmin, tokenFile(t, c.api, "frontend"), frontProxy)+cpYAML)
	eventually(t, 20*time.Second, "catalog reachable through the mesh", func() bool {
		_, _, err := get(proxyClient(t, frontProxy), "http://catalog/x", nil)
		return err == nil
	})

	issuedBefore := strings.Count(cat.output(), "certificate issued")
	hsBefore := metricSum(t, catAdmin, "weft_tls_handshakes_total", `side="server"`)
	load := startBackToBack(t, frontProxy, "http://catalog/r", 4)
	time.Sleep(8 * time.Second) // the load's duration; the checks below are on counts
	ok, failed, firstErr := load.halt()
	renewals := strings.Count(cat.output(), "certificate issued") - issuedBefore
	t.Logf("%d requests, %d failed, %d catalog renewals, %v server handshakes", ok+failed, failed, renewals,
		metricSum(t, catAdmin, "weft_tls_handshakes_total", `side="server"`)-hsBefore)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed across leaf rotations; first: %v", failed, ok+failed, firstErr)
	}
	if ok < 100 {
		t.Fatalf("only %d requests in 8 s", ok)
	}
	if renewals < 3 {
		t.Fatalf("catalog renewed %d times in 8 s with 3 s certificates", renewals)
	}
}
