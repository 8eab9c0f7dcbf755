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
// {"kind":"List","items":[...]} into typed resources. Unknown fields are
// errors with their path; defaults are applied and every resource is
// validated, all errors reported at once, prefixed with the item's index.
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
			Kind  string            `json:"kind"`
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
		r, err := decodeOne(raw)
		if err == nil {
			r.SetDefaults()
			err = r.Validate()
		}
		if err != nil {
			prefix := fmt.Sprintf("items[%d]", i)
			if r != nil && r.GetMeta().Name != "" {
				prefix = Key(r)
			}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					all = append(all, fmt.Errorf("%s: %w", prefix, e))
				}
			} else {
				all = append(all, fmt.Errorf("%s: %w", prefix, err))
			}
			continue
		}
		out = append(out, r)
	}
	if len(all) > 0 {
		return nil, errors.Join(all...)
	}
	return out, nil
}

func decodeOne(raw json.RawMessage) (Resource, error) {
	var tm TypeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return nil, err
	}
	if tm.APIVersion != APIVersion {
		return nil, &FieldError{"apiVersion", fmt.Sprintf("must be %s; got %q", APIVersion, tm.APIVersion)}
	}
	var r Resource
	switch tm.Kind {
	case KindService:
		r = &Service{}
	case KindHTTPRoute:
		r = &HTTPRoute{}
	case KindTrafficPolicy:
		r = &TrafficPolicy{}
	default:
		return nil, &FieldError{"kind", fmt.Sprintf("must be Service, HTTPRoute or TrafficPolicy; got %q", tm.Kind)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, err
	}
	return r, nil
}
