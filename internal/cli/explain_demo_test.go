//go:build !proxyonly

package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-mesh/weft/internal/sidecar"
)

// The demo's routes (catalog's policy and route, as `weft demo` applies
// them at its canary, beta and rollback steps, with two static instances
// in place of the demo's registered ones) explained by a running sidecar,
// in text, against testdata/explain/demo-*.golden. -update rewrites them.
func TestExplainDemoRoutesGolden(t *testing.T) {
	resources := func(v2Weight int, beta bool) string {
		return `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
  endpoints:
  - {address: 10.0.0.1, port: 8080, labels: {version: v1}}
  - {address: 10.0.0.2, port: 8080, labels: {version: v2}}
---
` + catalogPolicyYAML + "---\n" + catalogRouteYAML(v2Weight, beta)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "demo.yaml"), resources(10, true))
	a, _ := runStandalone(t, &sidecar.Config{Node: "frontend", Admin: "127.0.0.1:0",
		Outbound: sidecar.Outbound{Proxy: "127.0.0.1:0"}, Limits: sidecar.Limits{DrainTimeout: time.Second}}, dir)
	// The tables' version counts the pushes; it is not the routes.
	version := regexp.MustCompile(`\(tables xds-[^)]*\)`)
	explain := func(args ...string) string {
		t.Helper()
		code, out, errOut := weft(t, "127.0.0.1:1", append([]string{"explain", "--admin", a.Admin}, args...)...)
		if code != 0 {
			t.Fatalf("weft explain %v: exit %d: %s", args, code, errOut)
		}
		return version.ReplaceAllString(out, "(tables xds-N)")
	}
	check := func(name, got string) {
		t.Helper()
		path := filepath.Join("testdata", "explain", name+".golden")
		if *updateGolden {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(want), got); d != "" {
			t.Errorf("%s (-want +got):\n%s", path, d)
		}
	}
	check("demo-beta", explain("GET", "http://catalog/items/42", "-H", betaHeader+": "+betaUser))
	check("demo-canary-90-10", explain("GET", "http://catalog/items/42"))
	writeFile(t, filepath.Join(dir, "demo.yaml"), resources(0, false))
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for got = explain("GET", "http://catalog/items/42"); strings.Contains(got, "10%"); got = explain("GET", "http://catalog/items/42") {
		if time.Now().After(deadline) {
			t.Fatalf("the rollback to v1 never reached the sidecar:\n%s", got)
		}
		time.Sleep(20 * time.Millisecond) // polling the sidecar's tables
	}
	check("demo-rollback", got)
}
