package client

import (
	"fmt"
	"strings"

	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// Caps on a route's header edits: Gateway API's 16 per list, and set and
// add share the one Envoy list.
const (
	maxHeadersToAdd    = 2 * route.MaxHeaderMods
	maxHeadersToRemove = route.MaxHeaderMods
)

// headerModsToProxy maps a route's headers_to_add and headers_to_remove
// (side is "request" or "response"). Only the two append actions
// Gateway API's set and add mean are kept; anything else Envoy would do
// differently, so it is refused rather than approximated.
func headerModsToProxy(side string, add []*envoypb.HeaderValueOption, remove []string) (*route.HeaderMods, error) {
	if len(add) == 0 && len(remove) == 0 {
		return nil, nil
	}
	pa, pr := side+"_headers_to_add", side+"_headers_to_remove"
	if len(add) > maxHeadersToAdd {
		return nil, overLimit(pa, maxHeadersToAdd)
	}
	if len(remove) > maxHeadersToRemove {
		return nil, overLimit(pr, maxHeadersToRemove)
	}
	m := &route.HeaderMods{}
	for i, o := range add {
		p := fmt.Sprintf("%s[%d]", pa, i)
		h := o.GetHeader()
		switch {
		case h == nil:
			return nil, invalid(p+".header", "is required")
		case o.GetAppend() != nil:
			return nil, unsupported(p+".append", "the deprecated append flag; use append_action")
		case len(h.GetRawValue()) > 0:
			return nil, unsupported(p+".header.raw_value", "raw header values")
		}
		if err := checkHeader(p+".header", h.GetKey(), h.GetValue()); err != nil {
			return nil, err
		}
		if h.GetValue() == "" && !o.GetKeepEmptyValue() {
			continue // Envoy leaves an empty header out unless told to keep it
		}
		hv := route.HeaderValue{Name: h.GetKey(), Value: h.GetValue()}
		switch o.GetAppendAction() {
		case envoypb.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			m.Set = append(m.Set, hv)
		case envoypb.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			m.Add = append(m.Add, hv)
		default:
			return nil, unsupported(p+".append_action", "%v", o.GetAppendAction())
		}
	}
	if len(m.Set) > route.MaxHeaderMods || len(m.Add) > route.MaxHeaderMods {
		return nil, overLimit(pa, route.MaxHeaderMods)
	}
	for i, n := range remove {
		if err := checkHeader(fmt.Sprintf("%s[%d]", pr, i), n, ""); err != nil {
			return nil, err
		}
	}
	m.Remove = remove
	return m, nil
}

// checkHeader refuses what Envoy's own rules refuse (an empty name, CR,
// LF or NUL) as invalid, and the headers the proxy owns as beyond them.
func checkHeader(p, name, value string) error {
	if name == "" || strings.ContainsAny(name, "\r\n\x00") {
		return invalid(p+".key", "not a valid header name")
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return invalid(p+".value", "contains CR, LF or NUL")
	}
	if err := route.CheckHeader(name, value); err != nil {
		return stricter(p, "%v", err)
	}
	return nil
}
