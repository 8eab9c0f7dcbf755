package meshtap

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
)

// TestWireMatchesAPI: what a sidecar writes (tap.Line) reads into the API's
// types (api.TapLine) field for field, with nothing unknown or lost.
func TestWireMatchesAPI(t *testing.T) {
	ev := tap.Event{Time: time.Unix(1, 5).UTC(), Direction: "inbound",
		Source:      tap.Peer{Workload: "web", Namespace: "shop", Version: "v1", Principal: "spiffe://weft.local/ns/shop/sa/web"},
		Destination: tap.Peer{Service: "catalog.shop", Workload: "catalog", Namespace: "shop", Version: "v2", Principal: "p"},
		Protocol:    "grpc", Method: "POST", Authority: "catalog", Path: "/a", Status: 200, GRPCStatus: 5, DurationMs: 1.5,
		RequestBytes: 3, ResponseBytes: 4, ResponseFlags: "UH", TraceID: "ab", Upstream: "127.0.0.1:1"}
	for _, l := range []tap.Line{{Event: &ev}, {Stats: &tap.Stats{Matched: 3, RateLimited: 2, Dropped: 1}}, {End: "duration"}} {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var got api.TapLine
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		back, _ := json.Marshal(got)
		if !bytes.Equal(back, b) {
			t.Errorf("sidecar wrote %s, the API reads it back as %s", b, back)
		}
	}
}
