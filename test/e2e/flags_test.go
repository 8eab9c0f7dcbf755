package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A rule whose backendRef names a missing Service gets 500 with the flag
// NC, never another service's answer; in a weighted rule only the share
// meant for the missing backend does; and the route's status says
// ResolvedRefs=False BackendNotFound (issue 8 findings 2 and 5).
func TestInvalidBackendRefAnswers500(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	m := startCPMesh(t, c)
	mesh := catalogMesh(100, 0) + `---
apiVersion: weft.dev/v1alpha1
kind: HTTPRoute
metadata: {name: catalog-ghost}
spec:
  parentRefs: [{name: catalog}]
  rules:
  - matches: [{path: {value: /ghost}}]
    backendRefs: [{name: ghost}]
  - matches: [{path: {value: /half}}]
    backendRefs: [{name: ghost, weight: 50}, {name: catalog, subset: v1, weight: 50}]
`
	if out, ok := weft(t, c.api, mesh, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	m.waitShare(t, "catalog routed", 0, 0)
	call := func(path string) (int, string, string) {
		resp, err := m.client.Get("http://catalog" + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"), string(b)
	}
	eventually(t, 10*time.Second, "the ghost rule programmed", func() bool { code, _, _ := call("/ghost"); return code != 200 })
	code, flag, body := call("/ghost")
	if code != 500 || flag != "NC" || body != "weft: no such backend \"ghost.default\" (NC)\n" {
		t.Fatalf("/ghost: %d flag %q body %q, want 500 NC", code, flag, body)
	}
	counts := map[string]int{}
	for i := 0; i < 60; i++ {
		code, flag, _ := call("/half")
		counts[fmt.Sprint(code, flag)]++
	}
	if counts["500NC"] < 10 || counts["200"] < 10 || counts["500NC"]+counts["200"] != 60 {
		t.Fatalf("/half answers %v, want about half 500 NC and half 200", counts)
	}
	out, _ := weft(t, c.api, "", "get", "routes", "catalog-ghost", "-o", "json")
	if !strings.Contains(out, `"reason": "BackendNotFound"`) || !strings.Contains(out, `"type": "ResolvedRefs"`) {
		t.Fatalf("get routes does not say BackendNotFound:\n%s", out)
	}
}

// A Service declared tcp is reached through an outbound port in
// control-plane mode: the port hands the bytes to TCP, not to HTTP
// (issue 7 finding 6b).
func TestTCPServiceThroughOutboundPort(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer conn.Close(); io.Copy(conn, conn) }()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	svc := fmt.Sprintf("apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: tcpsvc}\nspec: {ports: [{port: %s, protocol: tcp}], dns: localhost}\n", port)
	if out, ok := weft(t, c.api, svc, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	admin, local := freePort(t), freePort(t)
	startSidecar(t, "tcp-client", admin, fmt.Sprintf(`node: tcp-client-1
service: tcp-client
admin: %s
outbound: {ports: [{listen: %s, service: tcpsvc}]}
controlPlane: {xds: [%s], api: [%s], cacheDir: %s}
`, admin, local, c.xds, c.api, t.TempDir()))
	eventually(t, 10*time.Second, "tcpsvc's config at the sidecar", func() bool { return strings.Contains(clusterNames(t, admin), "tcpsvc") })
	conn, err := net.DialTimeout("tcp", local, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	// Not HTTP: an HTTP port would answer 400.
	if _, err := conn.Write([]byte("\x00\x01hello tcp\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "\x00\x01hello tcp\n" {
		t.Fatalf("echo through the outbound port: %q %v", line, err)
	}
}
