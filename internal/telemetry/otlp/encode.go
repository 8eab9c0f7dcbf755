// Package otlp exports spans to an OpenTelemetry collector over OTLP/HTTP
// (binary protobuf, POST /v1/traces) or OTLP/gRPC (TraceService/Export,
// made over net/http's HTTP/2). The few messages it sends are encoded
// with protowire against OTLP's published field numbers
// (opentelemetry-proto, trace/v1 and common/v1), so the sidecar links no
// generated OTLP package and no grpc-go; tests decode its output with the
// official generated types and a grpc-go server.
package otlp

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// Resource names the process whose spans these are (OTel resource
// attributes).
type Resource struct {
	ServiceName    string // service.name
	ServiceVersion string // service.version ("" leaves it out)
	Namespace      string // service.namespace
	Instance       string // service.instance.id: the sidecar's node name
}

// Field numbers of opentelemetry.proto.collector.trace.v1 and friends.
const (
	fExportResourceSpans = 1 // ExportTraceServiceRequest.resource_spans

	fRSResource   = 1 // ResourceSpans.resource
	fRSScopeSpans = 2 // ResourceSpans.scope_spans

	fResourceAttributes = 1 // Resource.attributes

	fSSScope = 1 // ScopeSpans.scope
	fSSSpans = 2 // ScopeSpans.spans

	fScopeName    = 1 // InstrumentationScope.name
	fScopeVersion = 2 // InstrumentationScope.version

	fSpanTraceID    = 1
	fSpanSpanID     = 2
	fSpanParentID   = 4
	fSpanName       = 5
	fSpanKind       = 6
	fSpanStart      = 7 // fixed64
	fSpanEnd        = 8 // fixed64
	fSpanAttributes = 9
	fSpanStatus     = 15

	fStatusMessage = 2
	fStatusCode    = 3 // 1 OK, 2 ERROR

	fKVKey   = 1
	fKVValue = 2

	fAnyString = 1
	fAnyInt    = 3
)

// encodeRequest appends an ExportTraceServiceRequest holding spans.
func encodeRequest(b []byte, res *Resource, spans []*tracing.Span) []byte {
	var rs []byte
	rs = appendMessage(rs, fRSResource, encodeResource(nil, res))
	var ss []byte
	scope := protowire.AppendTag(nil, fScopeName, protowire.BytesType)
	scope = protowire.AppendString(scope, "weft")
	ss = appendMessage(ss, fSSScope, scope)
	for _, s := range spans {
		ss = appendMessage(ss, fSSSpans, encodeSpan(nil, s))
	}
	rs = appendMessage(rs, fRSScopeSpans, ss)
	return appendMessage(b, fExportResourceSpans, rs)
}

func encodeResource(b []byte, r *Resource) []byte {
	b = appendStringAttr(b, fResourceAttributes, "service.name", r.ServiceName)
	b = appendStringAttr(b, fResourceAttributes, "service.version", r.ServiceVersion)
	b = appendStringAttr(b, fResourceAttributes, "service.namespace", r.Namespace)
	b = appendStringAttr(b, fResourceAttributes, "service.instance.id", r.Instance)
	return b
}

func encodeSpan(b []byte, s *tracing.Span) []byte {
	b = protowire.AppendTag(b, fSpanTraceID, protowire.BytesType)
	b = protowire.AppendBytes(b, s.Trace[:])
	b = protowire.AppendTag(b, fSpanSpanID, protowire.BytesType)
	b = protowire.AppendBytes(b, s.ID[:])
	if !s.Parent.IsZero() {
		b = protowire.AppendTag(b, fSpanParentID, protowire.BytesType)
		b = protowire.AppendBytes(b, s.Parent[:])
	}
	b = protowire.AppendTag(b, fSpanName, protowire.BytesType)
	b = protowire.AppendString(b, s.Name)
	b = protowire.AppendTag(b, fSpanKind, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(s.Kind))
	b = protowire.AppendTag(b, fSpanStart, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(s.Start.UnixNano()))
	b = protowire.AppendTag(b, fSpanEnd, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(s.End.UnixNano()))
	// OTel HTTP semantic conventions, plus Weft's own under weft.*.
	b = appendStringAttr(b, fSpanAttributes, "http.request.method", s.Method)
	b = appendStringAttr(b, fSpanAttributes, "server.address", s.Authority)
	b = appendStringAttr(b, fSpanAttributes, "url.path", s.Path)
	if s.Status > 0 {
		b = appendIntAttr(b, fSpanAttributes, "http.response.status_code", int64(s.Status))
	}
	b = appendStringAttr(b, fSpanAttributes, "network.peer.address", s.Upstream)
	b = appendStringAttr(b, fSpanAttributes, "weft.direction", s.Direction)
	b = appendStringAttr(b, fSpanAttributes, "weft.upstream_cluster", s.Cluster)
	b = appendStringAttr(b, fSpanAttributes, "weft.response_flags", s.Flags)
	b = appendStringAttr(b, fSpanAttributes, "weft.request_id", s.RequestID)
	if s.Error() {
		var st []byte
		st = protowire.AppendTag(st, fStatusCode, protowire.VarintType)
		st = protowire.AppendVarint(st, 2)
		if s.Flags != "" {
			st = protowire.AppendTag(st, fStatusMessage, protowire.BytesType)
			st = protowire.AppendString(st, s.Flags)
		}
		b = appendMessage(b, fSpanStatus, st)
	}
	return b
}

func appendStringAttr(b []byte, field protowire.Number, key, v string) []byte {
	if v == "" {
		return b
	}
	var val []byte
	val = protowire.AppendTag(val, fAnyString, protowire.BytesType)
	val = protowire.AppendString(val, v)
	return appendKV(b, field, key, val)
}

func appendIntAttr(b []byte, field protowire.Number, key string, v int64) []byte {
	var val []byte
	val = protowire.AppendTag(val, fAnyInt, protowire.VarintType)
	val = protowire.AppendVarint(val, uint64(v))
	return appendKV(b, field, key, val)
}

func appendKV(b []byte, field protowire.Number, key string, val []byte) []byte {
	var kv []byte
	kv = protowire.AppendTag(kv, fKVKey, protowire.BytesType)
	kv = protowire.AppendString(kv, key)
	kv = appendMessage(kv, fKVValue, val)
	return appendMessage(b, field, kv)
}

func appendMessage(b []byte, field protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
