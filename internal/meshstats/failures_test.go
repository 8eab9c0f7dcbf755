package meshstats

import (
	"context"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// TestFailuresByResponseFlag: responses other than 2xx are counted per
// reporter, edge, code and response flags, most first; successes are not.
func TestFailuresByResponseFlag(t *testing.T) {
	front, frontAdmin := sidecarMetrics(t)
	insts := []api.Instance{{Service: "frontend", ID: "f1", Admin: frontAdmin}}
	c := New(Config{Instances: func(context.Context) ([]api.Instance, error) { return insts, nil }, Window: time.Hour})
	ctx := context.Background()
	c.Scrape(ctx)
	send := func(n, code int, flag telemetry.Flag) {
		for range n {
			r := telemetry.Request{Reporter: telemetry.ReporterSource, Code: code, Flag: flag, GRPCStatus: -1, Duration: time.Millisecond, Protocol: telemetry.ProtocolHTTP,
				Source:      telemetry.Workload{Name: "frontend", Namespace: "default"},
				Service:     telemetry.Service{Host: "catalog.default.svc.cluster.local", Name: "catalog", Namespace: "default"},
				Destination: telemetry.Workload{Name: "catalog", Namespace: "default"}}
			front.ObserveRequest(&r)
		}
	}
	send(50, 200, telemetry.FlagNone)
	send(7, 503, telemetry.FlagNoHealthyUpstream)
	send(3, 429, telemetry.FlagRateLimited)
	send(2, 500, telemetry.FlagNone)
	// A fault's abort before the sidecar picked a destination: no edge,
	// but a failure with the callee unknown.
	r := telemetry.Request{Reporter: telemetry.ReporterSource, Code: 503, Flag: telemetry.FlagFaultInjected, GRPCStatus: -1, Protocol: telemetry.ProtocolHTTP,
		Source: telemetry.Workload{Name: "frontend", Namespace: "default"}}
	front.ObserveRequest(&r)
	c.Scrape(ctx)
	st := c.Snapshot()
	if len(st.Edges) != 1 || st.Edges[0].Requests != 62 {
		t.Fatalf("edges %+v, want frontend -> catalog with 62 requests (not the abort without a destination)", st.Edges)
	}
	got := st.Failures
	want := []api.FailureStats{
		{Reporter: "source", Source: "frontend", Destination: "catalog", Code: "503", Flags: "UH", Requests: 7},
		{Reporter: "source", Source: "frontend", Destination: "catalog", Code: "429", Flags: "RL", Requests: 3},
		{Reporter: "source", Source: "frontend", Destination: "catalog", Code: "500", Requests: 2},
		{Reporter: "source", Source: "frontend", Code: "503", Flags: "FI", Requests: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("failures %+v, want %+v", got, want)
	}
	for i := range want {
		g := got[i]
		if g.RPS <= 0 {
			t.Errorf("failure %d: rps %v, want > 0", i, g.RPS)
		}
		g.RPS = 0
		if g != want[i] {
			t.Errorf("failure %d: %+v, want %+v", i, g, want[i])
		}
	}
}
