// Package client is the sidecar's ADS client: it subscribes to clusters,
// their endpoints and the outbound routes, validates each push, ACKs or
// NACKs it, and hands each complete config to the sidecar already mapped
// onto the proxy's own structs (route.Config, cluster.Config).
//
// It decodes xDS through envoypb: Go types generated from Weft's own .proto
// definitions of just the Envoy fields it reads, with Envoy's field numbers
// under a Weft proto package. go-control-plane's full types register
// Envoy's whole descriptor graph at start-up, which costs the sidecar about
// 9 MB of idle RSS, well over its 15 MB budget (docs/BENCHMARKS.md);
// envoypb registers a few dozen messages.
//
// The mapping mirrors xdstest.ToProxy field for field (a differential test
// holds it to it) and checks what Envoy's field validation (PGV) checks on
// those fields, so a bad push is NACKed rather than applied. It is stricter
// than ToProxy where ToProxy would silently mis-map a feature Weft cannot
// honour (see ErrUnsupported), and every repeated field and string it keeps
// is capped (limits.go).
//
// It speaks gRPC itself rather than through grpc-go: one bidirectional
// stream over net/http's HTTP/2 client, which the process links anyway
// (transport.go, grpcstream.go). grpc-go costs the sidecar about 3 MB of
// idle RSS. The transport is interoperability-tested against grpc-go's
// server.
package client
