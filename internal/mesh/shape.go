package mesh

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// checkShape compares an undecoded JSON value with the Go type it will
// decode into and reports every unknown field and every wrong type with
// its path, in the words of the manifest (object, list, integer), where
// encoding/json would stop at the first and speak of Go types.
func checkShape(v *errs, path string, val any, t reflect.Type) {
	if t.Kind() == reflect.Pointer {
		if val == nil {
			return
		}
		t = t.Elem()
	}
	if t == reflect.TypeOf(HTTPFilter{}) {
		// The typed configurations are checked in full; those of filter
		// types Weft does not implement are free-form (validation
		// refuses them by type).
		m, ok := val.(map[string]any)
		if !ok {
			v.add(path, "must be an object; got %s", describe(val))
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			if f, ok := fields[k]; ok {
				checkShape(v, join(path, k), m[k], f.Type)
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			v.add(path, "must be an object; got %s", describe(val))
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			f, ok := fields[k]
			if !ok {
				v.add(join(path, k), "unknown field%s", suggest(k, fields))
				continue
			}
			checkShape(v, join(path, k), m[k], f.Type)
		}
	case reflect.Slice:
		l, ok := val.([]any)
		if !ok {
			v.add(path, "must be a list; got %s", describe(val))
			return
		}
		for i, e := range l {
			checkShape(v, field(path, i), e, t.Elem())
		}
	case reflect.Map:
		m, ok := val.(map[string]any)
		if !ok {
			v.add(path, "must be an object; got %s", describe(val))
			return
		}
		for _, k := range sortedKeys(m) {
			checkShape(v, join(path, k), m[k], t.Elem())
		}
	case reflect.String:
		if _, ok := val.(string); !ok {
			v.add(path, "must be a string; got %s", describe(val))
		}
	case reflect.Bool:
		if _, ok := val.(bool); !ok {
			v.add(path, "must be true or false; got %s", describe(val))
		}
	case reflect.Int32, reflect.Int64:
		n, ok := val.(json.Number)
		if !ok {
			v.add(path, "must be an integer; got %s", describe(val))
			return
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); errors.Is(err, strconv.ErrRange) {
			v.add(path, "must be an integer of at most %d bits; got number %s", t.Bits(), n)
		} else if err != nil {
			v.add(path, "must be an integer; got number %s", n)
		}
	}
}

// jsonFields maps a struct's JSON names to its fields, with embedded
// structs' fields promoted as encoding/json does.
// fieldCache holds jsonFields per type: every resource the control plane
// loads from its store is shape-checked, and walking a type's fields with
// reflect for each object doubled the load time of a large mesh.
var fieldCache sync.Map // reflect.Type -> map[string]reflect.StructField

func jsonFields(t reflect.Type) map[string]reflect.StructField {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.StructField)
	}
	out := map[string]reflect.StructField{}
	for _, f := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || f.Anonymous {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	fieldCache.Store(t, out)
	return out
}

func typeOf(r Resource) reflect.Type { return reflect.TypeOf(r).Elem() }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// describe names a JSON value's type and shows short values.
func describe(val any) string {
	switch x := val.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("string %q", x)
	case json.Number:
		return "number " + string(x)
	case float64:
		return "number " + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", val)
}

// suggest proposes the known field closest to a misspelt one.
func suggest(name string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	if len(name) > 64 {
		return ""
	}
	for k := range fields {
		d := distance(strings.ToLower(name), strings.ToLower(k))
		if d < bestD || d == bestD && best != "" && k < best {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
