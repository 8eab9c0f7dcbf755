package client

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A route's header edits: Gateway API's set and add map as the reference
// maps them; what would inject headers, touch the proxy's own headers, or
// act differently from set and add is NACKed.
func TestHeaderModsDecodeRejects(t *testing.T) {
	runDecodeCases(t, headerCases(), func(b []byte) (any, error) { _, rc, err := decodeRoutes(b); return rc, err },
		func(b []byte) (any, error) { _, rc, err := realRoutes(b); return rc, err })
}

func headerCases() []decodeCase {
	opt := func(k, v string, a corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: a}
	}
	const set, add = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
	route := func(mut func(*routev3.Route)) proto.Message {
		r := &routev3.Route{Name: "r",
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "a.default"}}}}
		mut(r)
		return &routev3.RouteConfiguration{Name: outboundRoute, VirtualHosts: []*routev3.VirtualHost{{Name: "a", Domains: []string{"a"}, Routes: []*routev3.Route{r}}}}
	}
	many := make([]string, 17)
	for i := range many {
		many[i] = "x-" + strings.Repeat("a", i+1)
	}
	return []decodeCase{
		{"set add remove", route(func(r *routev3.Route) {
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{opt("X-Env", "prod", set), opt("x-tag", "a", add)}
			r.RequestHeadersToRemove = []string{"x-debug"}
			r.ResponseHeadersToAdd = []*corev3.HeaderValueOption{opt("x-served-by", "weft", set)}
			r.ResponseHeadersToRemove = []string{"server"}
		}), nil, false},
		{"empty value kept", route(func(r *routev3.Route) {
			o := opt("x-empty", "", set)
			o.KeepEmptyValue = true
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{o, opt("x-dropped", "", add)}
		}), nil, false},
		{"crlf value", route(func(r *routev3.Route) {
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{opt("x-a", "v\r\nx-evil: 1", set)}
		}), ErrInvalid, true},
		{"nul value", route(func(r *routev3.Route) {
			r.ResponseHeadersToAdd = []*corev3.HeaderValueOption{opt("x-a", "v\x00", add)}
		}), ErrInvalid, true},
		{"empty name", route(func(r *routev3.Route) { r.RequestHeadersToRemove = []string{""} }), ErrInvalid, true},
		{"host", route(func(r *routev3.Route) {
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{opt("Host", "evil", set)}
		}), errBeyondPGV, false},
		{"pseudo", route(func(r *routev3.Route) { r.RequestHeadersToRemove = []string{":authority"} }), errBeyondPGV, false},
		{"framing", route(func(r *routev3.Route) { r.ResponseHeadersToRemove = []string{"Content-Length"} }), errBeyondPGV, false},
		{"hop by hop", route(func(r *routev3.Route) {
			r.ResponseHeadersToAdd = []*corev3.HeaderValueOption{opt("Connection", "close", set)}
		}), errBeyondPGV, false},
		{"internal", route(func(r *routev3.Route) {
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{opt("X-Weft-Flags", "UF", set)}
		}), errBeyondPGV, false},
		{"identity", route(func(r *routev3.Route) { r.RequestHeadersToRemove = []string{"x-mesh-identity"} }), errBeyondPGV, false},
		{"add if absent", route(func(r *routev3.Route) {
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{opt("x-a", "1", corev3.HeaderValueOption_ADD_IF_ABSENT)}
		}), ErrUnsupported, true},
		{"deprecated append", route(func(r *routev3.Route) {
			o := opt("x-a", "1", add)
			//lint:ignore SA1019 the deprecated flag is what a control plane may still send
			o.Append = wrapperspb.Bool(true)
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{o}
		}), ErrUnsupported, false},
		{"too many removes", route(func(r *routev3.Route) { r.RequestHeadersToRemove = many }), ErrLimit, false},
	}
}
