package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/api"
)

func TestTapLine(t *testing.T) {
	e := &api.TapEvent{Time: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), Direction: "outbound",
		Source: api.TapPeer{Workload: "web", Version: "v1"}, Destination: api.TapPeer{Service: "catalog.default", Version: "v2"},
		Method: "GET", Authority: "catalog", Path: "/items", Status: 503, GRPCStatus: -1, DurationMs: 1.25,
		RequestBytes: 0, ResponseBytes: 12, ResponseFlags: "UH", Upstream: "10.0.0.1:80"}
	want := "req id=7 03:04:05.006 outbound src=web(v1) dst=catalog.default(v2) :method=GET :authority=catalog :path=/items :status=503 latency=1.25ms bytes=0/12 flags=UH upstream=10.0.0.1:80 sidecar=web/w-1"
	if got := tapLine(7, "web/w-1", e); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// A client's bytes never reach the terminal raw.
	e.Path, e.Source = "/a\x1b[2Jb", api.TapPeer{}
	got := tapLine(1, "x", e)
	if strings.ContainsRune(got, 0x1b) || !strings.Contains(got, `:path="/a\x1b[2Jb"`) || !strings.Contains(got, "src=unknown") {
		t.Errorf("escape sequence line: %s", got)
	}
}
