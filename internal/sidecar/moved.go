package sidecar

import (
	"bytes"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// moved are the top-level keys a sidecar file once had and no longer
// does, with where their content lives now. Services and routes are
// written once, as mesh resources, and checked by one validator; a file
// that still carries them gets this answer instead of "field not found".
var moved = map[string]string{
	"services": "moved to mesh resources: write a Service (and a TrafficPolicy for lb, pool and connectTimeout) and apply it with weft apply, or pass --resources DIR",
	"routes":   "moved to mesh resources: write an HTTPRoute whose parentRefs name the Service and apply it with weft apply, or pass --resources DIR",
}

// movedFields reports every moved key at the top level of a YAML
// document, with its line. Malformed YAML is left to the strict decode,
// which reports it better.
func movedFields(data []byte) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	var errs []error
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if why, ok := moved[k.Value]; ok {
			errs = append(errs, &FieldError{Path: k.Value, Reason: fmt.Sprintf("line %d: %s", k.Line, why)})
		}
	}
	return errors.Join(errs...)
}
