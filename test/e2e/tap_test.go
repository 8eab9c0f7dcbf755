package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tapLine is one NDJSON line of `weft tap -o json`.
type tapLine struct {
	Instance string `json:"instance"`
	Event    *struct {
		Direction string `json:"direction"`
		Source    struct {
			Workload, Principal string
		} `json:"source"`
		Destination struct {
			Service, Workload, Version string
		} `json:"destination"`
		Method, Authority, Path string
		Status                  int
		ResponseFlags           string `json:"responseFlags"`
		Time                    time.Time
	} `json:"event"`
	Stats *struct {
		Matched, RateLimited, Dropped, Sent uint64
	} `json:"stats"`
	Error string `json:"error"`
	End   string `json:"end"`
}

// tapLines parses a tap process's JSON lines so far (stderr lines,
// which do not start with '{', are skipped).
func tapLines(t *testing.T, p *proc) []tapLine {
	t.Helper()
	var out []tapLine
	sc := bufio.NewScanner(strings.NewReader(p.output()))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			continue
		}
		var l tapLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("tap line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func tapPaths(ls []tapLine) []string {
	var out []string
	for _, l := range ls {
		if l.Event != nil {
			out = append(out, l.Event.Path)
		}
	}
	return out
}

const tapMesh = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
---
apiVersion: weft.dev/v1alpha1
kind: HTTPRoute
metadata: {name: catalog-items}
spec:
  parentRefs: [{name: catalog}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /missing}}]
    filters: [{type: Fault, fault: {abort: {httpStatus: 404, percent: 100}}}]
    backendRefs: [{name: catalog}]
  - backendRefs: [{name: catalog}]
`

// weftTap runs `weft tap` against the control plane as a subprocess.
func weftTap(t *testing.T, c *cp, args ...string) *proc {
	t.Helper()
	p := start(t, "weft tap "+strings.Join(args, " "), append([]string{bin.weft, "tap", "--server", c.api,
		"--token-file", filepath.Join(c.creds, "operator.token"), "--ca-file", filepath.Join(c.creds, "ca.pem")}, args...)...)
	return p
}

// warmTap sends marker requests until the tap shows one: its sessions on
// the sidecars are then open, and what follows is seen.
func warmTap(t *testing.T, client *http.Client, p *proc, path string) {
	t.Helper()
	i := 0
	eventually(t, 30*time.Second, "the tap shows a warm-up request", func() bool {
		i++
		get(client, fmt.Sprintf("http://catalog%s-%d", path, i), nil)
		for _, got := range tapPaths(tapLines(t, p)) {
			if strings.HasPrefix(got, path) {
				return true
			}
		}
		return false
	})
}

// TestTapShowsLiveRequests: weft tap, through the control plane, shows
// exactly the requests sent through the sidecars, with their status,
// path (no query), source and destination; a --path filter keeps the
// others out; a flood is held to the rate cap, with the rest counted.
func TestTapShowsLiveRequests(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	if out, ok := weft(t, c.api, tapMesh, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cp := append([]string{"--control", c.api, "--xds", c.xds, "--probe-interval", "100ms"}, c.runCreds()...)
	app := freePort(t)
	_, port, _ := strings.Cut(app, ":")
	start(t, "weft run catalog", append(append([]string{bin.weft, "run"}, cp...), "--service", "catalog", "--version", "v1",
		"--id", "catalog-1", "--port", port, "--", bin.echo, "-addr", app, "-service", "catalog", "-version", "v1")...)
	feApp, feProxy := freePort(t), freePort(t)
	_, fePort, _ := strings.Cut(feApp, ":")
	front := start(t, "weft run frontend", append(append([]string{bin.weft, "run"}, cp...), "--service", "frontend", "--id", "frontend-1",
		"--port", fePort, "--proxy", feProxy, "--", bin.echo, "-addr", feApp, "-service", "frontend")...)
	pu, _ := url.Parse("http://" + feProxy)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	t.Cleanup(client.CloseIdleConnections)
	eventually(t, 40*time.Second, "catalog answers through the frontend's sidecar", func() bool {
		_, code, _ := get(client, "http://catalog/items", nil)
		return code == 200
	})
	if _, code, _ := get(client, "http://catalog/missing", nil); code != 404 {
		t.Fatalf("the route's 404 abort: %d", code)
	}

	for _, bad := range []struct {
		args []string
		want string
	}{{[]string{"tap", "catalog", "--status", "6xx"}, "status"}, {[]string{"tap", "nosuch"}, `"nosuch"`}} {
		if out, ok := weft(t, c.api, "", bad.args...); ok || !strings.Contains(out, bad.want) {
			t.Errorf("weft %v: ok=%v %q, want a refusal naming %s", bad.args, ok, out, bad.want)
		}
	}

	// The frontend's outbound side, all of it; and the catalog's, only
	// under /items/b.
	all := weftTap(t, c, "frontend", "-o", "json", "--duration", "2m")
	onlyB := weftTap(t, c, "catalog", "-o", "json", "--path", "/items/b", "--duration", "2m")
	warmTap(t, client, all, "/warm")
	warmTap(t, client, onlyB, "/items/b/warm")

	want := []struct {
		path   string
		status int
	}{{"/items/a", 200}, {"/items/b", 200}, {"/missing", 404}}
	for _, w := range want {
		if _, code, _ := get(client, "http://catalog"+w.path+"?secret=1", nil); code != w.status {
			t.Fatalf("GET %s: %d, want %d", w.path, code, w.status)
		}
	}
	eventually(t, 20*time.Second, "both taps show the requests", func() bool {
		return strings.Contains(all.output(), `"/missing"`) && strings.Count(onlyB.output(), `"path":"/items/b"`) == 1
	})
	var seen []string
	for _, l := range tapLines(t, all) {
		e := l.Event
		if e == nil || strings.HasPrefix(e.Path, "/warm") || strings.HasPrefix(e.Path, "/items/b/warm") {
			continue
		}
		seen = append(seen, e.Path)
		if len(seen) > len(want) {
			t.Errorf("unexpected event %+v", *e)
			continue
		}
		w := want[len(seen)-1]
		if e.Path != w.path || e.Status != w.status || e.Direction != "outbound" || e.Method != "GET" || e.Authority != "catalog" ||
			e.Source.Workload != "frontend" || l.Instance != "frontend/frontend-1" {
			t.Errorf("event %d: %+v from %s, want %s %d from frontend", len(seen), *e, l.Instance, w.path, w.status)
		}
		if w.status == 200 && (!strings.HasPrefix(e.Destination.Service, "catalog") || e.Destination.Version != "v1") {
			t.Errorf("event %s: destination %+v, want catalog v1", e.Path, e.Destination)
		}
		if w.status == 404 && e.ResponseFlags != "FI" {
			t.Errorf("the mesh's 404: flags %q, want FI (fault injected)", e.ResponseFlags)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("the frontend tap showed %v, want %v", seen, want)
	}
	for _, l := range tapLines(t, onlyB) {
		e := l.Event
		if e == nil {
			continue
		}
		if !strings.HasPrefix(e.Path, "/items/b") {
			t.Errorf("the --path /items/b tap showed %s", e.Path)
		}
		if e.Path == "/items/b" && (e.Direction != "inbound" || e.Status != 200 || e.Source.Workload != "frontend" ||
			!strings.HasPrefix(e.Source.Principal, "spiffe://") || !strings.HasPrefix(e.Destination.Service, "catalog") || l.Instance != "catalog/catalog-1") {
			t.Errorf("catalog's view of /items/b: %+v from %s", *e, l.Instance)
		}
	}

	// The human form, ended by --max.
	text := weftTap(t, c, "catalog", "--path", "/items/c", "--max", "2")
	eventually(t, 30*time.Second, "weft tap --max 2 exits after two requests", func() bool {
		select {
		case <-text.done:
			return true
		default:
			get(client, "http://catalog/items/c", nil)
			return false
		}
	})
	if text.err != nil || strings.Count(text.output(), "\nreq id=")+boolInt(strings.HasPrefix(text.output(), "req id=")) != 2 ||
		!strings.Contains(text.output(), ":path=/items/c :status=200") || !strings.Contains(text.output(), "src=frontend") ||
		!strings.Contains(text.output(), "dst=catalog") || !strings.Contains(text.output(), "tap ended (max)") {
		t.Errorf("weft tap --max 2 (%v):\n%s", text.err, text.output())
	}

	// A flood at 20 events/s for 4s: at most 20 a second plus the burst of 20.
	const rate, secs = 20, 4
	began := time.Now()
	flood := weftTap(t, c, "frontend", "-o", "json", "--rate", fmt.Sprint(rate), "--duration", fmt.Sprint(secs, "s"))
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					if _, code, _ := get(client, "http://catalog/items/flood", nil); code == 200 {
						sent.Add(1)
					}
				}
			}
		}()
	}
	select {
	case <-flood.done:
	case <-time.After(30 * time.Second):
		t.Error("the flood tap did not end after its duration")
	}
	took := time.Since(began) // the tap's whole life: longer than its stream
	close(stop)
	wg.Wait()
	ls := tapLines(t, flood)
	n := len(tapPaths(ls))
	// The cap: one second's burst, then --rate a second.
	if most := rate + int(rate*took.Seconds()); n > most || n == 0 {
		t.Errorf("%d events in %s at --rate %d (%d requests sent), want 1 to %d", n, took, rate, sent.Load(), most)
	}
	var last *tapLine
	for i := range ls {
		if ls[i].Stats != nil {
			last = &ls[i]
		}
	}
	if end := ls[len(ls)-1].End; end != "duration" || last == nil || last.Stats.RateLimited == 0 || last.Stats.Sent != uint64(n) {
		t.Errorf("flood of %d requests: %d events, closing stats %+v, end %q; want the excess counted as rate-limited", sent.Load(), n, last, end)
	}
	if st := last.Stats; st.Matched != st.Sent+st.RateLimited+st.Dropped {
		t.Errorf("closing stats %+v: matched is not sent + rate-limited + dropped", *st)
	}

	// A client that vanishes leaves nothing behind: once the taps still
	// streaming are killed, the frontend's sidecar has all its 8 session
	// slots free again (the control plane closed its streams to it).
	all.cmd.Process.Kill()
	<-all.done
	m := regexp.MustCompile(`admin http://(\S+)`).FindStringSubmatch(front.output())
	if m == nil {
		t.Fatalf("no admin address in: %s", front.output())
	}
	eventually(t, 15*time.Second, "8 free tap sessions on the frontend's sidecar after its tap was killed", func() bool {
		var open []*http.Response
		defer func() {
			for _, r := range open {
				r.Body.Close()
			}
		}()
		for range 8 {
			r, err := http.Get("http://" + m[1] + "/tap?duration=10s")
			if err != nil {
				return false
			}
			open = append(open, r)
			if r.StatusCode != http.StatusOK {
				return false
			}
		}
		return true
	})
	t.Logf("flood: %d requests sent, %d events shown, closing stats %+v", sent.Load(), n, *last.Stats)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
