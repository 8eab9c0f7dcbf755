package lean

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
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

// request is a discovery.v3.DiscoveryRequest.
type request struct {
	node     string
	services string // declared services, comma-separated; "" = all
	version  string
	names    []string
	typeURL  string
	nonce    string
	errorMsg string // non-empty makes the request a NACK
}

// encode writes the request's fields in field-number order, leaving out
// empty ones, as protobuf's marshaller does. Field numbers:
// DiscoveryRequest version_info 1, node 2, resource_names 3, type_url 4,
// response_nonce 5, error_detail 6; Node id 1; google.rpc.Status code 1,
// message 2.
func (r *request) encode() []byte {
	var b []byte
	b = appendString(b, 1, r.version)
	var node []byte
	node = appendString(node, 1, r.node)
	if r.services != "" {
		node = appendServices(node, r.services)
	}
	b = protowire.AppendTag(b, 2, bytesT)
	b = protowire.AppendBytes(b, node)
	for _, n := range r.names {
		b = protowire.AppendTag(b, 3, bytesT)
		b = protowire.AppendString(b, n)
	}
	b = appendString(b, 4, r.typeURL)
	b = appendString(b, 5, r.nonce)
	if r.errorMsg != "" {
		var st []byte
		st = protowire.AppendTag(st, 1, varintT)
		st = protowire.AppendVarint(st, codeInvalidArgument)
		st = appendString(st, 2, detail(r.errorMsg))
		b = protowire.AppendTag(b, 6, bytesT)
		b = protowire.AppendBytes(b, st)
	}
	return b
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, bytesT)
	return protowire.AppendString(b, s)
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

// response is a discovery.v3.DiscoveryResponse.
type response struct {
	version   string
	typeURL   string
	nonce     string
	resources []anyMsg
	// err is a cap the push broke. The rest of the response is still read,
	// so the push can be NACKed by type and nonce instead of failing the
	// stream.
	err error
}

// decodeResponse reads a DiscoveryResponse. Field numbers: version_info 1,
// resources 2, type_url 4, nonce 5; canary 3, control_plane 6 and
// resource_errors 7 are not used. A malformed message is an error; the
// stream ends on it, as it does when grpc's proto codec fails.
func decodeResponse(b []byte) (response, error) {
	var r response
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			r.version, err = str(f, "version_info", maxName)
		case f.is(4, bytesT):
			r.typeURL, err = str(f, "type_url", maxName)
		case f.is(5, bytesT):
			r.nonce, err = str(f, "nonce", maxName)
		case f.is(2, bytesT):
			if len(r.resources) >= maxResources {
				if r.err == nil {
					r.err = overLimit("resources", maxResources)
				}
				return nil
			}
			var a anyMsg
			if err = a.merge(f.b); isLimit(err) {
				// A resource over a cap is the push's fault, not the
				// stream's: NACK it.
				if r.err == nil {
					r.err = fmt.Errorf("resources[%d]: %w", len(r.resources), err)
				}
				err = nil
			}
			r.resources = append(r.resources, a)
		}
		return err
	})
	if err != nil {
		return response{}, fmt.Errorf("decode discovery response: %w", err)
	}
	return r, nil
}

// servicesKey must match the control plane's server.ServicesKey.
const servicesKey = "weft.dev/services"

// appendServices writes Node.metadata (3), a google.protobuf.Struct, with
// one field: servicesKey -> Value{string_value (3)}. Struct.fields (1) is a
// map, so its entry is a message of key (1) and value (2).
func appendServices(b []byte, services string) []byte {
	var val []byte
	val = appendString(val, 3, services)
	var entry []byte
	entry = appendString(entry, 1, servicesKey)
	entry = protowire.AppendTag(entry, 2, bytesT)
	entry = protowire.AppendBytes(entry, val)
	var st []byte
	st = protowire.AppendTag(st, 1, bytesT)
	st = protowire.AppendBytes(st, entry)
	b = protowire.AppendTag(b, 3, bytesT)
	return protowire.AppendBytes(b, st)
}
