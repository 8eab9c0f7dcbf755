package lean

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// labelsKey is the filter metadata namespace holding Weft's endpoint labels
// (translate.MetadataKey, duplicated so translate is not linked).
const labelsKey = "weft"

// metadata is a config.core.v3.Metadata (filter_metadata 1, a map of
// Struct; typed_filter_metadata 2, a map of Any). Only
// filter_metadata["weft"] is kept, as a flat string map: non-string values
// read as "", as client.ToProxy reads them. A Struct's fields are field 1,
// a map of Value, whose kinds are the oneof null 1, number 2, string 3,
// bool 4, struct 5, list 6.
type metadata struct {
	weft    map[string]string // nil unless the namespace was sent
	entries int
}

func (m *metadata) merge(b []byte) error {
	return walk(b, func(f field) error {
		if f.typ != bytesT || (f.num != 1 && f.num != 2) {
			return nil
		}
		if m.entries++; m.entries > maxMapEntries {
			return overLimit("metadata", maxMapEntries)
		}
		var key string
		var labels map[string]string
		sent := false
		err := walk(f.b, func(e field) error {
			var err error
			switch {
			case e.is(1, bytesT):
				key, err = str(e, "metadata key", maxName)
			case e.is(2, bytesT) && f.num == 1:
				// A repeated value field merges: both structs' fields.
				if labels == nil {
					labels = map[string]string{}
				}
				sent = true
				err = mergeStruct(e.b, labels)
			}
			return err
		})
		if err != nil {
			return err
		}
		if !nonEmpty(key) {
			return invalid("metadata", "namespace must not be empty")
		}
		if f.num == 1 && key == labelsKey {
			if !sent {
				labels = map[string]string{} // an absent value is an empty struct
			}
			m.weft = labels // a later entry for the key replaces an earlier one
		}
		return nil
	})
}

// mergeStruct reads a google.protobuf.Struct into labels.
func mergeStruct(b []byte, labels map[string]string) error {
	return walk(b, func(f field) error {
		if !f.is(1, bytesT) {
			return nil
		}
		var key, val string
		err := walk(f.b, func(e field) error {
			var err error
			switch {
			case e.is(1, bytesT):
				key, err = str(e, "label key", maxName)
			case e.is(2, bytesT):
				err = mergeValue(e.b, &val)
			}
			return err
		})
		if err != nil {
			return err
		}
		labels[key] = val
		if len(labels) > maxLabels {
			return overLimit("labels", maxLabels)
		}
		return nil
	})
}

// mergeValue reads a google.protobuf.Value: its string, or "" when the last
// kind sent is another one.
func mergeValue(b []byte, out *string) error {
	return walk(b, func(f field) error {
		var err error
		switch {
		case f.is(3, bytesT):
			*out, err = str(f, "label value", maxValue)
		case f.is(1, varintT), f.is(2, protowire.Fixed64Type), f.is(4, varintT), f.is(5, bytesT), f.is(6, bytesT):
			*out = "" // another kind replaces the string in the oneof
		}
		if err != nil {
			return fmt.Errorf("label: %w", err)
		}
		return nil
	})
}
