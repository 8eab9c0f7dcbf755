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

// The demo's routes (demoResources, as `weft demo` applies them, with two
// static instances in place of the demo's registered ones) explained by a
// running sidecar, in text, against testdata/explain/demo-*.golden: the
// canary header, the 90:10 default, and the default after the demo's
// switch to 50:50. -update rewrites them.
func TestExplainDemoRoutesGolden(t *testing.T) {
	instances := `"endpoints": [{"address": "10.0.0.1", "port": 8080, "labels": {"version": "v1"}}, {"address": "10.0.0.2", "port": 8080, "labels": {"version": "v2"}}], "subsets": [`
	resources := func(w1, w2 int) string {
		return strings.Replace(string(demoResources(w1, w2)), `"subsets": [`, instances, 1)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "demo.json"), resources(90, 10))
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
	check("demo-canary", explain("GET", "http://catalog/items/42", "-H", "x-canary: always"))
	check("demo-split-90-10", explain("GET", "http://catalog/items/42"))
	writeFile(t, filepath.Join(dir, "demo.json"), resources(50, 50))
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for got = explain("GET", "http://catalog/items/42"); !strings.Contains(got, "50%"); got = explain("GET", "http://catalog/items/42") {
		if time.Now().After(deadline) {
			t.Fatalf("the 50:50 split never reached the sidecar:\n%s", got)
		}
		time.Sleep(20 * time.Millisecond) // polling the sidecar's tables
	}
	check("demo-split-50-50", got)
}
