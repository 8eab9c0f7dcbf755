// Package envoypb holds Go types generated from Weft's own .proto
// definitions of just the Envoy xDS messages and fields the sidecar reads.
// Field numbers and types are Envoy's, so the bytes of Envoy's messages
// decode into these types; the proto package is weft.xds.envoy.v3, so the
// types never clash with go-control-plane's registrations when both are
// linked. Type URLs on the wire stay Envoy's: the client checks the URL
// string and unmarshals the Any's bytes into the type here.
//
// Regenerate with scripts/gen-xds-proto.sh after editing a .proto file;
// the generated code is committed.
package envoypb
