package mesh

import (
	"encoding/json"
	"fmt"
)

// maxFilterBytes caps one filter's configuration.
const maxFilterBytes = 16 << 10

// UnmarshalJSON keeps a filter's type and its configuration as given, so
// filters are accepted before Weft implements each kind.
func (f *HTTPFilter) UnmarshalJSON(b []byte) error {
	if len(b) > maxFilterBytes {
		return fmt.Errorf("filter larger than %d bytes", maxFilterBytes)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	t, _ := m["type"].(string)
	delete(m, "type")
	f.Type, f.Raw = t, m
	return nil
}

// MarshalJSON writes the filter back in the shape it was read.
func (f HTTPFilter) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(f.Raw)+1)
	for k, v := range f.Raw {
		m[k] = v
	}
	m["type"] = f.Type
	return json.Marshal(m)
}
