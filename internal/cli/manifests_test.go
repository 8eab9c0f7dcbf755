package cli

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("kind: Service\nmetadata: {name: a}\n---\n---\nkind: Service\nmetadata: {name: b}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"kind": "List", "items": [{"kind": "HTTPRoute"}, {"kind": "TrafficPolicy"}]}`), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a manifest"), 0o600)
	docs, err := readManifests(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds, lines []string
	for _, d := range docs {
		kinds = append(kinds, d.value.(map[string]any)["kind"].(string))
		lines = append(lines, filepath.Base(d.file)+":"+strconv.Itoa(d.node.Line))
	}
	if strings.Join(kinds, ",") != "Service,Service,HTTPRoute,TrafficPolicy" {
		t.Fatalf("kinds %v", kinds)
	}
	if strings.Join(lines, ",") != "a.yaml:1,a.yaml:5,b.json:1,b.json:1" {
		t.Fatalf("sources %v", lines)
	}
	if _, err := body(docs); err != nil {
		t.Fatal(err)
	}
	if _, err := readManifests("-", strings.NewReader("")); err == nil {
		t.Fatal("empty input accepted")
	}
	if _, err := readManifests("-", strings.NewReader("kind: [unclosed")); err == nil {
		t.Fatal("broken YAML accepted")
	}
}

// Malformed YAML is reported at the line at fault, with the file name;
// yaml.v3 alone says the line before for parser errors.
func TestYAMLErrorLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"kind: Service\nmetadata:\n  name: a\nspec:\n  ports: [{port: 80}\n  dns: x\n", "x.yaml:5: did not find expected ',' or ']'"},
		{"kind: Service\nmetadata:\n  name: a\n bad: 1\n", "x.yaml:4: did not find expected key"},
		{"a: 1\n---\nkind: Service\nspec: {ports: [1, 2}\n", "x.yaml:4: did not find expected ',' or ']'"},
		{"- a\nb: 1\n", "x.yaml:2: did not find expected '-' indicator"},
		{"a: 1\n\tb: 2\n", "x.yaml:2: found a tab character that violates indentation"},
	}
	for _, tt := range tests {
		_, err := yamlDocs("x.yaml", []byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: err = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// locate names the file, the line of the field, the resource and the
// path for every problem of every document at once.
func TestLocateEveryProblem(t *testing.T) {
	in := `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports:
  - port: eighty
    protocl: http
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: catalog}
spec:
  targetRef: {name: catalog}
  retries: {attempts: 11}
`
	docs, err := yamlDocs("catalog.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got := locate(docs)
	want := `refused: 3 problem(s), nothing changed
  catalog.yaml:6: Service/default/catalog: spec.ports[0].port: must be an integer; got string "eighty"
  catalog.yaml:7: Service/default/catalog: spec.ports[0].protocl: unknown field (did you mean "protocol"?)
  catalog.yaml:14: TrafficPolicy/default/catalog: spec.retries.attempts: must be 0..10; got 11`
	if got == nil || got.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", got, want)
	}
}

// FuzzYAMLDocs: whatever the input, splitting never panics, and what it
// accepts is representable as the JSON the API takes (or is an error).
func FuzzYAMLDocs(f *testing.F) {
	f.Add([]byte("kind: Service\nmetadata: {name: a}\n---\nkind: HTTPRoute\n"))
	f.Add([]byte(`{"kind": "List", "items": [{"kind": "Service"}]}`))
	f.Add([]byte("- a\n- b: c\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("? [a]\n: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := yamlDocs("fuzz", data)
		if err != nil {
			return
		}
		body(docs)
		locate(docs)
	})
}

func TestVersionLine(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260101000000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-01-01T00:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	want := "weft v0.0.0-20260101000000-0123456789ab+dirty (commit 0123456789ab (modified), committed 2026-01-01T00:00:00Z, go1.26.8)"
	if got := versionLine("", info); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := versionLine("v1.2.3", info); !strings.HasPrefix(got, "weft v1.2.3 (commit 0123456789ab") {
		t.Errorf("override: %q", got)
	}
	if got := versionLine("", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}); got != "weft devel" {
		t.Errorf("no vcs: %q", got)
	}
}
