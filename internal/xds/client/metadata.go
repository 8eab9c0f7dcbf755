package client

import (
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// labelsKey is the filter metadata namespace holding Weft's endpoint labels
// (translate.MetadataKey, duplicated so translate is not linked).
const labelsKey = "weft"

// weftLabels reads filter_metadata["weft"] as a flat string map: non-string
// values read as "", as xdstest.ToProxy reads them. It is nil unless the
// namespace was sent. Every namespace must be named, as Envoy requires.
func weftLabels(m *envoypb.Metadata) (map[string]string, error) {
	fm, tm := m.GetFilterMetadata(), m.GetTypedFilterMetadata()
	if len(fm)+len(tm) > maxMapEntries {
		return nil, overLimit("metadata", maxMapEntries)
	}
	_, emptyF := fm[""]
	_, emptyT := tm[""]
	if emptyF || emptyT {
		return nil, invalid("metadata", "namespace must not be empty")
	}
	st, ok := fm[labelsKey]
	if !ok {
		return nil, nil
	}
	fields := st.GetFields()
	if len(fields) > maxLabels {
		return nil, overLimit("labels", maxLabels)
	}
	labels := make(map[string]string, len(fields))
	for k, v := range fields {
		if err := capped("label key", k, maxName); err != nil {
			return nil, err
		}
		s := v.GetStringValue()
		if err := capped("label value", s, maxValue); err != nil {
			return nil, err
		}
		labels[k] = s
	}
	return labels, nil
}

// protocolField names, in a Cluster's filter_metadata["weft"], what the
// cluster's endpoints speak when it is not HTTP (translate.ProtocolField,
// duplicated so translate is not linked).
const protocolField = "protocol"

// tcpMarked reports a cluster whose metadata says its endpoints speak
// opaque TCP. Any other protocol value is refused: it would be silently
// taken for HTTP.
func tcpMarked(m *envoypb.Metadata) (bool, error) {
	labels, err := weftLabels(m)
	if err != nil {
		return false, err
	}
	switch p, ok := labels[protocolField]; {
	case !ok:
		return false, nil
	case p == "tcp":
		return true, nil
	default:
		return false, unsupported("filter_metadata.weft.protocol", "protocol %q", p)
	}
}
