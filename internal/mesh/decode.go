package mesh

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxDecodeBytes caps one Decode input.
const MaxDecodeBytes = 4 << 20

// maxItems caps the resources in one input.
const maxItems = 1000

// Decode reads one resource, a JSON array of resources, or a
// {"kind":"List","items":[...]} into typed resources. Every problem of
// every resource is reported at once, each prefixed with the resource's
// Kind/namespace/name (or items[N] when it has none) and its field path.
func Decode(data []byte) ([]Resource, error) {
	if len(data) > MaxDecodeBytes {
		return nil, fmt.Errorf("decode: input larger than %d bytes", MaxDecodeBytes)
	}
	data = bytes.TrimSpace(data)
	var raws []json.RawMessage
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
	default:
		var head struct {
			Kind  any               `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		if head.Kind == "List" {
			raws = head.Items
		} else {
			raws = []json.RawMessage{data}
		}
	}
	if len(raws) > maxItems {
		return nil, fmt.Errorf("decode: more than %d resources", maxItems)
	}
	var out []Resource
	var all []error
	for i, raw := range raws {
		r, key, errs := DecodeItem(raw)
		if key == "" {
			key = fmt.Sprintf("items[%d]", i)
		}
		for _, e := range errs {
			all = append(all, fmt.Errorf("%s: %w", key, e))
		}
		if len(errs) == 0 {
			out = append(out, r)
		}
	}
	if len(all) > 0 {
		return nil, errors.Join(all...)
	}
	return out, nil
}

// DecodeItem decodes one resource, applies its defaults and validates
// it. key is Kind/namespace/name as far as the input says ("" when it
// names no kind or name), so callers can name the resource even when it
// is refused. problems holds every problem found, each with its field path.
func DecodeItem(raw []byte) (r Resource, key string, problems []*FieldError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "", []*FieldError{{Reason: "not valid JSON: " + err.Error()}}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, "", []*FieldError{{Reason: "a resource must be an object; got " + describe(v)}}
	}
	key = keyOf(m)
	if av := m["apiVersion"]; av != APIVersion {
		return nil, key, []*FieldError{{Path: "apiVersion", Reason: fmt.Sprintf("must be %s; got %s", APIVersion, describe(av))}}
	}
	switch m["kind"] {
	case KindService:
		r = &Service{}
	case KindHTTPRoute:
		r = &HTTPRoute{}
	case KindTrafficPolicy:
		r = &TrafficPolicy{}
	case KindAuthorizationPolicy:
		r = &AuthorizationPolicy{}
	default:
		return nil, key, []*FieldError{{Path: "kind", Reason: "must be Service, HTTPRoute, TrafficPolicy or AuthorizationPolicy; got " + describe(m["kind"])}}
	}
	var v2 errs
	checkShape(&v2, "", m, typeOf(r))
	if len(v2) == 0 {
		// The shape is right, so this only fails on what checkShape
		// cannot see (none known); report it rather than lose it.
		if err := json.Unmarshal(raw, r); err != nil {
			v2 = append(v2, &FieldError{Reason: err.Error()})
		} else {
			r.SetDefaults()
			v2 = append(v2, unjoin(r.Validate())...)
		}
	}
	for _, e := range v2 {
		problems = append(problems, e.(*FieldError))
	}
	if len(problems) > 0 {
		return nil, key, problems
	}
	return r, key, nil
}

// keyOf renders Kind/namespace/name from an undecoded resource.
func keyOf(m map[string]any) string {
	kind, _ := m["kind"].(string)
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	if kind == "" || name == "" {
		return ""
	}
	if ns == "" {
		ns = "default"
	}
	return kind + "/" + ns + "/" + name
}

// unjoin flattens a (joined) validation error into its field errors.
func unjoin(err error) errs {
	if err == nil {
		return nil
	}
	var out errs
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return errs{fe}
	}
	return errs{&FieldError{Reason: err.Error()}}
}
