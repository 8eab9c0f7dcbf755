package e2e

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type statsJSON struct {
	WindowSeconds float64   `json:"windowSeconds"`
	Updated       time.Time `json:"updated"`
	Sidecars      int       `json:"sidecars"`
	Services      []struct {
		Service, Version string
		Requests         int64
		SuccessRate      float64
		P50Ms            float64
	} `json:"services"`
	Edges []struct {
		Source, Destination string
		Requests            int64
		SuccessRate         float64
	} `json:"edges"`
}

func meshStats(t *testing.T, api string) statsJSON {
	t.Helper()
	out, ok := weft(t, api, "", "stat", "-o", "json")
	if !ok {
		t.Fatalf("weft stat: %s", out)
	}
	var st statsJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("weft stat -o json: %v: %s", err, out)
	}
	return st
}

func (s statsJSON) served(service string) (n int64) {
	for _, sv := range s.Services {
		if sv.Service == service {
			n += sv.Requests
		}
	}
	return n
}

func (s statsJSON) edge(from, to string) (n int64, success float64) {
	for _, e := range s.Edges {
		if e.Source == from && e.Destination == to {
			return e.Requests, e.SuccessRate
		}
	}
	return 0, 0
}

// TestStatAgreesWithTheClient: weft stat and weft edges, computed by the
// control plane from its scrapes of the sidecars (no Prometheus), agree
// with the client's own count within 2 %.
func TestStatAgreesWithTheClient(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"), "--stats-interval", "300ms")
	if out, ok := weft(t, c.api, catalogMesh(50, 50), "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cp := append([]string{"--control", c.api, "--xds", c.xds, "--probe-interval", "100ms"}, c.runCreds()...)
	for _, v := range []string{"v1", "v2"} {
		app := freePort(t)
		_, port, _ := strings.Cut(app, ":")
		start(t, "weft run catalog-"+v, append(append([]string{bin.weft, "run"}, cp...), "--service", "catalog", "--version", v,
			"--id", "catalog-"+v, "--port", port, "--", bin.echo, "-addr", app, "-service", "catalog", "-version", v)...)
	}
	feApp, feProxy := freePort(t), freePort(t)
	_, fePort, _ := strings.Cut(feApp, ":")
	start(t, "weft run frontend", append(append([]string{bin.weft, "run"}, cp...), "--service", "frontend", "--id", "frontend-1",
		"--port", fePort, "--proxy", feProxy, "--", bin.echo, "-addr", feApp, "-service", "frontend")...)
	pu, _ := url.Parse("http://" + feProxy)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	t.Cleanup(client.CloseIdleConnections)
	eventually(t, 40*time.Second, "both catalog versions answer through the frontend's sidecar", func() bool {
		seen := map[string]bool{}
		for range 20 {
			r, _, err := get(client, "http://catalog/items", nil)
			if err != nil {
				return false
			}
			seen[r.Version] = true
		}
		return seen["v1"] && seen["v2"]
	})
	// A baseline once every sidecar has been scraped in a round that began
	// after the warm-up ended (rounds run every 300ms and take far less
	// than a second): what the warm-up sent is then either not counted or
	// in the baseline, never in the delta. It may all predate the first
	// scrape, so the baseline may well be zero.
	warmEnd := time.Now()
	var base statsJSON
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last weft stat: %+v", base)
		}
	})
	eventually(t, 40*time.Second, "three sidecars scraped", func() bool {
		base = meshStats(t, c.api)
		return base.Sidecars == 3 && base.WindowSeconds > 0 && base.Updated.After(warmEnd.Add(time.Second))
	})
	baseServed := base.served("catalog")
	baseEdge, baseSuccess := base.edge("frontend", "catalog")

	const n = 600
	ok := 0
	for range n {
		if _, _, err := get(client, "http://catalog/items", nil); err == nil {
			ok++
		}
	}
	if ok != n {
		t.Fatalf("%d of %d requests failed", n-ok, n)
	}
	var st statsJSON
	eventually(t, 20*time.Second, "the stats catch up with the client", func() bool {
		st = meshStats(t, c.api)
		e, _ := st.edge("frontend", "catalog")
		return st.served("catalog")-baseServed >= n && e-baseEdge >= n
	})
	served := st.served("catalog") - baseServed
	edge, success := st.edge("frontend", "catalog")
	edge -= baseEdge
	for what, got := range map[string]int64{"catalog (destination-reported)": served, "frontend -> catalog (source-reported)": edge} {
		if diff := math.Abs(float64(got-n)) / n; diff > 0.02 {
			t.Errorf("%s: %d requests, the client sent %d (%.1f %% off, want <= 2 %%)", what, got, n, 100*diff)
		}
	}
	// The warm-up may have failed while routes arrived; none since.
	failedBefore := math.Round(float64(baseEdge) * (1 - baseSuccess))
	if failedAfter := math.Round(float64(edge+baseEdge) * (1 - success)); failedAfter != failedBefore {
		t.Errorf("edge failures went from %v to %v, but no request failed", failedBefore, failedAfter)
	}
	out, okCmd := weft(t, c.api, "", "stat", "catalog")
	if !okCmd || !strings.Contains(out, "v1") || !strings.Contains(out, "v2") || !strings.Contains(out, "%") {
		t.Errorf("weft stat catalog:\n%s", out)
	}
	out, okCmd = weft(t, c.api, "", "edges")
	if !okCmd || !strings.Contains(out, "frontend") || !strings.Contains(out, "catalog") {
		t.Errorf("weft edges:\n%s", out)
	}
	if out, okCmd = weft(t, c.api, "", "stat", "nosuch"); okCmd || !strings.Contains(out, `"nosuch"`) {
		t.Errorf("weft stat of a missing service: %v %s", okCmd, out)
	}
}
