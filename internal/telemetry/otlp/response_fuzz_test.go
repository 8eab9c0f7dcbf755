package otlp

import (
	"encoding/base64"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzCollectorAnswer: whatever a collector answers, the decoders of its
// gRPC frame, ExportTraceServiceResponse and status details neither
// panic nor disagree with the generated types on well-formed input.
func FuzzCollectorAnswer(f *testing.F) {
	ok, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{PartialSuccess: &coltrace.ExportTracePartialSuccess{RejectedSpans: 3, ErrorMessage: "old"}})
	f.Add(grpcFrame(nil, ok))
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 1, 7})
	f.Add([]byte{0x0a, 0x02, 0x08, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := readGRPCFrame(b); err == nil && len(b) > 0 && len(m) != len(b)-5 {
			t.Fatalf("frame of %d bytes gave a %d-byte message", len(b), len(m))
		}
		rejected, msg, err := decodePartialSuccess(b)
		var want coltrace.ExportTraceServiceResponse
		if err == nil && proto.Unmarshal(b, &want) == nil {
			if w := max(want.GetPartialSuccess().GetRejectedSpans(), 0); w != rejected || want.GetPartialSuccess().GetErrorMessage() != msg {
				t.Fatalf("decoded %d %q; generated types say %d %q", rejected, msg, w, want.GetPartialSuccess().GetErrorMessage())
			}
		}
		hasRetryInfo(base64.StdEncoding.EncodeToString(b))
		hasRetryInfo(string(b))
	})
}

// FuzzGRPCTarget: an accepted endpoint is a HOST:PORT authority that
// re-parses to itself.
func FuzzGRPCTarget(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:4317", "https://[::1]:4317/", "otel:4317", "dns:///x", "x:0", "http://u@x:1"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, ep string, insecure bool) {
		a, _, err := grpcTarget(ep, insecure)
		if err != nil {
			return
		}
		if b, _, err := grpcTarget(a, insecure); err != nil || b != a {
			t.Fatalf("authority %q of %q re-parsed to %q, %v", a, ep, b, err)
		}
	})
}
