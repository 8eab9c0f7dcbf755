package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("kind: Service\nmetadata: {name: a}\n---\n---\nkind: Service\nmetadata: {name: b}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"kind": "List", "items": [{"kind": "HTTPRoute"}, {"kind": "TrafficPolicy"}]}`), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a manifest"), 0o600)
	got, err := readManifests(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	if err := json.Unmarshal(got, &docs); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range docs {
		kinds = append(kinds, d["kind"].(string))
	}
	if strings.Join(kinds, ",") != "Service,Service,HTTPRoute,TrafficPolicy" {
		t.Fatalf("kinds %v", kinds)
	}
	if _, err := readManifests("-", strings.NewReader("")); err == nil {
		t.Fatal("empty input accepted")
	}
	if _, err := readManifests("-", strings.NewReader("kind: [unclosed")); err == nil {
		t.Fatal("broken YAML accepted")
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
		docs, err := yamlDocs(data)
		if err != nil {
			return
		}
		json.Marshal(docs)
	})
}
