package mesh

import (
	"encoding/json"
	"fmt"
)

// maxFilterBytes caps one filter's configuration.
const maxFilterBytes = 16 << 10

// Filter types Weft implements. Gateway API has no core fault or rate-limit
// filter, so these are Weft's own type names.
const (
	FilterFault     = "Fault"
	FilterRateLimit = "RateLimit"
	// FilterRequestHeaderModifier and FilterResponseHeaderModifier are
	// Gateway API's core header filters.
	FilterRequestHeaderModifier  = "RequestHeaderModifier"
	FilterResponseHeaderModifier = "ResponseHeaderModifier"
)

// typedFilterKeys are the keys of HTTPFilter decoded into typed fields; the
// rest of a filter stays free-form in Raw, so filters Weft does not
// implement yet can still be named when they are refused.
var typedFilterKeys = map[string]bool{"type": true, "fault": true, "rateLimit": true,
	"requestHeaderModifier": true, "responseHeaderModifier": true,
	"urlRewrite": true, "requestRedirect": true, "requestMirror": true}

// UnmarshalJSON decodes the typed configurations and keeps the rest of
// the filter as given.
func (f *HTTPFilter) UnmarshalJSON(b []byte) error {
	if len(b) > maxFilterBytes {
		return fmt.Errorf("filter larger than %d bytes", maxFilterBytes)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*f = HTTPFilter{}
	if t, ok := m["type"]; ok {
		if err := json.Unmarshal(t, &f.Type); err != nil {
			return err
		}
	}
	if raw, ok := m["fault"]; ok {
		if err := json.Unmarshal(raw, &f.Fault); err != nil {
			return err
		}
	}
	if raw, ok := m["rateLimit"]; ok {
		if err := json.Unmarshal(raw, &f.RateLimit); err != nil {
			return err
		}
	}
	if raw, ok := m["requestHeaderModifier"]; ok {
		if err := json.Unmarshal(raw, &f.RequestHeaderModifier); err != nil {
			return err
		}
	}
	if raw, ok := m["responseHeaderModifier"]; ok {
		if err := json.Unmarshal(raw, &f.ResponseHeaderModifier); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		key string
		dst any
	}{{"urlRewrite", &f.URLRewrite}, {"requestRedirect", &f.RequestRedirect}, {"requestMirror", &f.RequestMirror}} {
		if raw, ok := m[t.key]; ok {
			if err := json.Unmarshal(raw, t.dst); err != nil {
				return err
			}
		}
	}
	for k, raw := range m {
		if typedFilterKeys[k] {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if f.Raw == nil {
			f.Raw = map[string]any{}
		}
		f.Raw[k] = v
	}
	return nil
}

// MarshalJSON writes the filter back in the shape it was read.
func (f HTTPFilter) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(f.Raw)+3)
	for k, v := range f.Raw {
		m[k] = v
	}
	m["type"] = f.Type
	if f.Fault != nil {
		m["fault"] = f.Fault
	}
	if f.RateLimit != nil {
		m["rateLimit"] = f.RateLimit
	}
	if f.RequestHeaderModifier != nil {
		m["requestHeaderModifier"] = f.RequestHeaderModifier
	}
	if f.ResponseHeaderModifier != nil {
		m["responseHeaderModifier"] = f.ResponseHeaderModifier
	}
	if f.URLRewrite != nil {
		m["urlRewrite"] = f.URLRewrite
	}
	if f.RequestRedirect != nil {
		m["requestRedirect"] = f.RequestRedirect
	}
	if f.RequestMirror != nil {
		m["requestMirror"] = f.RequestMirror
	}
	return json.Marshal(m)
}
