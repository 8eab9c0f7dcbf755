package client

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// Type URLs of the xDS resources the sidecar subscribes to (the server's
// constants, duplicated so the server is not linked).
const (
	clusterType  = "type.googleapis.com/" + clusterMsgName
	endpointType = "type.googleapis.com/" + endpointsMsgName
	routeType    = "type.googleapis.com/" + routesMsgName
)

// codeInvalidArgument is google.rpc.Code INVALID_ARGUMENT, the code a NACK
// carries.
const codeInvalidArgument = 3

// maxErrorDetail caps a NACK's message: the server logs and stores it per
// proxy, and a joined error over many resources could be large.
const maxErrorDetail = 4096

// request is a DiscoveryRequest as the stream builds it.
type request struct {
	node     string
	region   string // the node's locality; "" unknown
	zone     string
	services string // declared services, comma-separated; "" = all
	version  string
	names    []string
	typeURL  string
	nonce    string
	errorMsg string // non-empty makes the request a NACK
}

// marshalOpts are deterministic so a request's bytes do not depend on map
// order (the node metadata is a map).
var marshalOpts = proto.MarshalOptions{Deterministic: true}

// encode marshals the request.
func (r *request) encode() ([]byte, error) {
	m := &envoypb.DiscoveryRequest{VersionInfo: r.version, Node: &envoypb.Node{Id: r.node},
		ResourceNames: r.names, TypeUrl: r.typeURL, ResponseNonce: r.nonce}
	if r.region != "" || r.zone != "" {
		m.Node.Locality = &envoypb.Locality{Region: r.region, Zone: r.zone}
	}
	if r.services != "" {
		m.Node.Metadata = &structpb.Struct{Fields: map[string]*structpb.Value{
			servicesKey: {Kind: &structpb.Value_StringValue{StringValue: r.services}}}}
	}
	if r.errorMsg != "" {
		m.ErrorDetail = &envoypb.Status{Code: codeInvalidArgument, Message: detail(r.errorMsg)}
	}
	b, err := marshalOpts.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode discovery request: %w", err)
	}
	return b, nil
}

// detail makes msg fit a proto3 string the server will accept: valid UTF-8
// (or the server fails the whole stream) and at most maxErrorDetail bytes,
// cut on a rune boundary.
func detail(msg string) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) <= maxErrorDetail {
		return msg
	}
	cut := maxErrorDetail
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut]
}

// response is a DiscoveryResponse as the stream reads it.
type response struct {
	version   string
	typeURL   string
	nonce     string
	resources []*anypb.Any
	// err is a cap the push broke. The envelope is still read, so the push
	// can be NACKed by type and nonce instead of failing the stream.
	err error
}

// decodeResponse reads a DiscoveryResponse. A malformed message, or an
// envelope string over its cap, is an error; the stream ends on it, as it
// does when grpc's proto codec fails.
func decodeResponse(b []byte) (response, error) {
	var m envoypb.DiscoveryResponse
	if err := unmarshal(b, &m); err != nil {
		return response{}, fmt.Errorf("decode discovery response: %w", err)
	}
	for _, f := range []struct{ name, v string }{{"version_info", m.VersionInfo}, {"type_url", m.TypeUrl}, {"nonce", m.Nonce}} {
		if err := capped(f.name, f.v, maxName); err != nil {
			return response{}, fmt.Errorf("decode discovery response: %w", err)
		}
	}
	r := response{version: m.VersionInfo, typeURL: m.TypeUrl, nonce: m.Nonce, resources: m.Resources}
	if len(r.resources) > maxResources {
		r.err, r.resources = overLimit("resources", maxResources), nil
	}
	for i, a := range r.resources {
		if err := capped("type_url", a.GetTypeUrl(), maxName); err != nil {
			// A resource over a cap is the push's fault, not the
			// stream's: NACK it.
			r.err = fmt.Errorf("resources[%d]: %w", i, err)
			break
		}
	}
	return r, nil
}

// servicesKey must match the control plane's server.ServicesKey: the node
// metadata field that declares the services this sidecar calls.
const servicesKey = "weft.dev/services"
