package xdstest

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// headersFromXDS maps a route's headers_to_add and headers_to_remove:
// OVERWRITE_IF_EXISTS_OR_ADD is Gateway API's set, APPEND_IF_EXISTS_OR_ADD
// its add; an empty value is dropped unless keep_empty_value, as Envoy
// does.
func headersFromXDS(add []*corev3.HeaderValueOption, remove []string) (*route.HeaderMods, error) {
	if len(add) == 0 && len(remove) == 0 {
		return nil, nil
	}
	m := &route.HeaderMods{}
	for _, o := range add {
		h := o.GetHeader()
		if h.GetValue() == "" && !o.GetKeepEmptyValue() {
			continue
		}
		hv := route.HeaderValue{Name: h.GetKey(), Value: h.GetValue()}
		switch o.GetAppendAction() {
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			m.Set = append(m.Set, hv)
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			m.Add = append(m.Add, hv)
		default:
			return nil, fmt.Errorf("header %s: append action %v", h.GetKey(), o.GetAppendAction())
		}
	}
	m.Remove = remove
	return m, nil
}
