package mesh

import (
	"flag"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/reference.md")

const referencePath = "../../docs/reference.md"

// TestReference renders the doc comment of every field of every resource
// into docs/reference.md, and fails when a field has none or the
// committed file is stale (go test ./internal/mesh -run TestReference
// -update rewrites it).
func TestReference(t *testing.T) {
	got, missing := renderReference(t)
	for _, m := range missing {
		t.Errorf("%s has no doc comment: users read it as the reference", m)
	}
	if *update {
		if err := os.WriteFile(referencePath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v (go test -run TestReference -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale: run go test ./internal/mesh -run TestReference -update", referencePath)
	}
}

// renderReference walks the resource types from each kind down, in the
// order a manifest nests them, and writes a table per type.
func renderReference(t *testing.T) ([]byte, []string) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, "github.com/weft-mesh/weft/internal/mesh")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]*doc.Type{}
	for _, ty := range p.Types {
		types[ty.Name] = ty
	}
	var b strings.Builder
	b.WriteString("# Resource reference\n\nGenerated from the doc comments in `internal/mesh` by `go test ./internal/mesh -run TestReference -update`; do not edit.\n")
	b.WriteString("Every resource is `apiVersion: weft.dev/v1alpha1` with `kind`, `metadata` (see ObjectMeta), `spec` and `status` (written by the control plane).\n")
	b.WriteString("A field Weft does not enforce yet is refused with `not supported yet`, never accepted and ignored.\n")
	var missing []string
	seen := map[string]bool{}
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || rt.PkgPath() != reflect.TypeOf(Service{}).PkgPath() || seen[rt.Name()] {
			return
		}
		seen[rt.Name()] = true
		ty := types[rt.Name()]
		fmt.Fprintf(&b, "\n## %s\n\n%s\n| field | type | meaning |\n|---|---|---|\n", rt.Name(), oneParagraph(ty.Doc))
		st := ty.Decl.Specs[0].(*ast.TypeSpec).Type.(*ast.StructType)
		var next []reflect.Type
		for _, f := range st.Fields.List {
			if len(f.Names) == 0 {
				continue // embedded TypeMeta: apiVersion and kind, documented on its own
			}
			sf, _ := rt.FieldByName(f.Names[0].Name)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Doc == nil {
				missing = append(missing, rt.Name()+"."+sf.Name)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, typeName(sf.Type), oneLine(f.Doc.Text()))
			next = append(next, sf.Type)
		}
		for _, n := range next {
			walk(n)
		}
	}
	for _, r := range []any{Service{}, HTTPRoute{}, TrafficPolicy{}, AuthorizationPolicy{}, TypeMeta{}} {
		walk(reflect.TypeOf(r))
	}
	return []byte(b.String()), missing
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case reflect.Struct:
		return "[" + t.Name() + "](#" + strings.ToLower(t.Name()) + ")"
	case reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Interface:
		return "any"
	}
	return t.Kind().String()
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", "\\|")
}

func oneParagraph(s string) string {
	if s == "" {
		return ""
	}
	return oneLine(s) + "\n"
}
