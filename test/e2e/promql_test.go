package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// promServer is a real Prometheus (Debian's package) scraping sidecars.
type promServer struct {
	addr string
	c    *http.Client
}

// startPrometheus runs `prometheus` scraping every admin address's
// /metrics each second, or skips the test when the binary is missing.
func startPrometheus(t *testing.T, admins map[string]string) *promServer {
	t.Helper()
	binPath, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not found on PATH: install Debian's package (scripts/install-deps.sh does: apt-get install prometheus)")
	}
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}\nscrape_configs:\n- job_name: weft\n  metrics_path: /metrics\n  static_configs:\n")
	for name, admin := range admins {
		fmt.Fprintf(&cfg, "  - targets: ['%s']\n    labels: {sidecar: %s}\n", admin, name)
	}
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &promServer{addr: freePort(t), c: &http.Client{Timeout: 10 * time.Second}}
	proc := start(t, "prometheus", binPath, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.addr, "--log.level=warn")
	eventually(t, 60*time.Second, "prometheus ready", func() bool {
		select {
		case <-proc.done:
			t.Fatalf("prometheus exited: %s", proc.output())
		default:
		}
		return httpOK(p.c, "http://"+p.addr+"/-/ready")
	})
	return p
}

// promResult is the data of an /api/v1/query or query_range answer.
type promResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`  // vector: [unix seconds, "value"]
		Values [][2]any          `json:"values"` // matrix
	} `json:"result"`
}

// query runs an instant PromQL query at time at; an error names the
// query and Prometheus's reason (a parse error, for one).
func (p *promServer) query(q string, at time.Time) (promResult, error) {
	v := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64)}}
	resp, err := p.c.PostForm("http://"+p.addr+"/api/v1/query", v)
	if err != nil {
		return promResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return promResult{}, err
	}
	var ans struct {
		Status, Error, ErrorType string
		Data                     promResult
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return promResult{}, fmt.Errorf("%s: %w: %.200s", q, err, body)
	}
	if ans.Status != "success" {
		return promResult{}, fmt.Errorf("%s: %s: %s", q, ans.ErrorType, ans.Error)
	}
	return ans.Data, nil
}

// scalar runs q at at and returns its one sample's value.
func (p *promServer) scalar(t *testing.T, q string, at time.Time) float64 {
	t.Helper()
	r, err := p.query(q, at)
	if err != nil {
		t.Fatal(err)
	}
	if r.ResultType != "vector" || len(r.Result) != 1 {
		t.Fatalf("%s at %v: want one sample, got %s with %d", q, at.Format(time.RFC3339Nano), r.ResultType, len(r.Result))
	}
	return sampleValue(t, r.Result[0].Value)
}

func sampleValue(t *testing.T, v [2]any) float64 {
	t.Helper()
	s, _ := v[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("sample value %v: %v", v, err)
	}
	return f
}

// scrapedPast waits until every target's latest scrape began after at.
func (p *promServer) scrapedPast(t *testing.T, at time.Time, targets int) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("Prometheus scraping all %d sidecars after %v", targets, at.Format("15:04:05.000")), func() bool {
		r, err := p.query(`timestamp(up{job="weft"})`, time.Now())
		if err != nil || len(r.Result) != targets {
			return false
		}
		for _, s := range r.Result {
			ts, _ := s.Value[1].(string)
			f, err := strconv.ParseFloat(ts, 64)
			if err != nil || time.Unix(0, int64(f*1e9)).Before(at) {
				return false
			}
		}
		return true
	})
}
