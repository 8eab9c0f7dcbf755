// Package lean is the sidecar's ADS client without Envoy's generated types.
//
// internal/xds/client decodes xDS with go-control-plane's protobuf types.
// Linking them registers Envoy's whole descriptor graph at start-up, which
// costs the sidecar about 9 MB of idle RSS, well over its 15 MB budget
// (docs/BENCHMARKS.md). This package speaks the same ADS protocol with the
// same stream semantics, but reads the wire format by hand with protowire:
// only the few fields Weft maps onto route.Config and cluster.Config are
// decoded, the rest are skipped unread, and no descriptor is registered.
//
// The decoders mirror client.ToProxy field for field (a differential test
// holds them to it) and check what Envoy's field validation (PGV) checks on
// those fields, so a bad push is NACKed rather than applied. They are
// stricter than ToProxy where ToProxy would silently mis-map a feature Weft
// cannot honour (see ErrUnsupported), and every repeated field and string
// they keep is capped (limits.go), so a hostile push cannot make the
// sidecar allocate without bound.
//
// For the same reason it speaks gRPC itself rather than through grpc-go:
// one bidirectional stream over golang.org/x/net/http2, which the proxy
// links anyway (transport.go, grpcstream.go). grpc-go and the protobuf
// runtime it brings cost the sidecar about 3 MB of idle RSS. The transport
// is interoperability-tested against grpc-go's server.
package lean
