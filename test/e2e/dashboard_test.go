package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// chromium returns Debian's chromium, installing it when it is missing
// and apt can; the test skips, saying why, only when neither works.
func chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil || os.Geteuid() != 0 {
		t.Skipf("%s is missing and cannot be installed here (apt-get: %v, root: %v): install Debian's chromium (scripts/install-deps.sh) to run the dashboard's browser test", chromiumPath, err == nil, os.Geteuid() == 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, apt, "install", "-y", "--no-install-recommends", "chromium")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("%s is missing and apt-get install chromium failed (%v): %s", chromiumPath, err, lastLines(string(out), 5))
	}
	return chromiumPath
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// browser starts headless Chromium with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "weft-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1360, 860),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
		// Chromium's helpers may write to the profile for a moment after
		// the browser stops: try the removal until it succeeds, bounded.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// The first run starts the browser, with no deadline (one would end
	// the browser with it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs browser actions, each call bounded by a minute.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var err error
	// The page rebuilds its content every 2 s: a node found by a query
	// can be replaced before the action on it lands. Nothing was done
	// then, so the steps are tried again (they are idempotent).
	for range 3 {
		if err = chromedp.Do(ctx, actions...); err == nil || !strings.Contains(err.Error(), "Could not find node with given id") {
			break
		}
	}
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot saves the page to docs/img/dashboard-NAME.png when
// WEFT_SCREENSHOTS=1 (the README's pictures).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("WEFT_SCREENSHOTS") != "1" {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	path := filepath.Join("..", "..", "docs", "img", "dashboard-"+name+".png")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// uiEdge is the frontend -> catalog edge as the page shows it: the
// requests cell of the edges table, and the graph's label.
type uiEdge struct {
	Requests int64  `json:"requests"`
	Label    string `json:"label"`
	Class    string `json:"class"`
	Updated  string `json:"updated"`
}

const readEdge = `(() => {
  const row = document.querySelector('#edge-table tr[data-source="frontend"][data-destination="catalog"]');
  const g = document.querySelector('#topology .edge[data-source="frontend"][data-destination="catalog"]');
  return {requests: row ? Number(row.querySelector('.edge-requests').textContent) : -1,
          label: g ? g.querySelector('text').textContent : '', class: g ? g.getAttribute('class') : '',
          updated: document.getElementById('status').dataset.updated || ''};
})()`

func dashboardMesh(v1, v2 int) string {
	return fmt.Sprintf(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: ratings}
spec:
  ports: [{port: 80}]
---
apiVersion: weft.dev/v1alpha1
kind: HTTPRoute
metadata: {name: catalog-split}
spec:
  parentRefs: [{name: catalog}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /flaky}}]
    filters: [{type: Fault, fault: {abort: {httpStatus: 503, percent: 30}}}]
    backendRefs: [{name: catalog, subset: v1}]
  - backendRefs:
    - {name: catalog, subset: v1, weight: %d}
    - {name: catalog, subset: v2, weight: %d}
`, v1, v2)
}

// TestDashboard opens the dashboard of a running mesh in headless
// Chromium: the graph shows the services with live numbers, the request
// count agrees with the client's own within 2 %, a weight changed through
// the page (token typed in, change confirmed) moves the split the client
// observes and the page shows, and the history shows the new revision.
func TestDashboard(t *testing.T) {
	ctx := browser(t)
	dash := freePort(t)
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--stats-interval", "300ms", "--stats-window", "10m", "--dashboard", dash)
	if !strings.Contains(c.p.output(), "http://"+dash+"/") {
		t.Fatalf("weft control's log does not name the dashboard's URL http://%s/:\n%s", dash, c.p.output())
	}
	if out, ok := weft(t, c.api, dashboardMesh(90, 10), "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cpArgs := append([]string{"--control", c.api, "--xds", c.xds, "--probe-interval", "100ms"}, c.runCreds()...)
	for _, s := range []struct{ service, version string }{{"catalog", "v1"}, {"catalog", "v2"}, {"ratings", "v1"}} {
		app := freePort(t)
		_, port, _ := strings.Cut(app, ":")
		start(t, "weft run "+s.service+"-"+s.version, append(append([]string{bin.weft, "run"}, cpArgs...), "--service", s.service, "--version", s.version,
			"--id", s.service+"-"+s.version, "--port", port, "--", bin.echo, "-addr", app, "-service", s.service, "-version", s.version)...)
	}
	feApp, feProxy := freePort(t), freePort(t)
	_, fePort, _ := strings.Cut(feApp, ":")
	start(t, "weft run frontend", append(append([]string{bin.weft, "run"}, cpArgs...), "--service", "frontend", "--id", "frontend-1",
		"--port", fePort, "--proxy", feProxy, "--", bin.echo, "-addr", feApp, "-service", "frontend")...)
	pu, _ := url.Parse("http://" + feProxy)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	t.Cleanup(client.CloseIdleConnections)
	// send makes n requests to catalog and returns how many each version
	// answered, and under "failed" how many failed (the first failure is
	// logged).
	send := func(n int) map[string]int {
		seen := map[string]int{}
		for range n {
			r, _, err := get(client, "http://catalog/items", nil)
			if err != nil {
				if seen["failed"] == 0 {
					t.Logf("request through the frontend's sidecar: %v", err)
				}
				seen["failed"]++
				continue
			}
			seen[r.Version]++
		}
		return seen
	}
	eventually(t, 40*time.Second, "both catalog versions and ratings answer through the frontend's sidecar", func() bool {
		seen := map[string]bool{}
		for range 40 {
			r, _, err := get(client, "http://catalog/items", nil)
			if err != nil {
				return false
			}
			seen[r.Version] = true
		}
		_, _, err := get(client, "http://ratings/stars", nil)
		return seen["v1"] && seen["v2"] && err == nil
	})
	// Some traffic for the other edge and the failures page: ratings, and
	// catalog's /flaky, where 30 % are aborted by a fault (503, FI).
	aborted := 0
	for range 100 {
		get(client, "http://ratings/stars", nil)
		if _, code, _ := get(client, "http://catalog/flaky", nil); code == http.StatusServiceUnavailable {
			aborted++
		}
	}
	if aborted < 10 || aborted > 50 {
		out, _ := weft(t, c.api, "", "explain", "http://catalog/flaky", "--from", "frontend")
		t.Fatalf("the fault aborted %d of 100 requests to /flaky, want about 30:\n%s", aborted, out)
	}
	warmEnd := time.Now()

	run(t, ctx, "open the dashboard", chromedp.Navigate("http://"+dash+"/#/topology"),
		chromedp.WaitVisible(chromedp.CSS(`#topology .node[data-service="catalog"]`)))
	// A baseline once the page shows a scrape that began after the warm-up
	// (see TestStatAgreesWithTheClient): the warm-up is then in it or
	// never counted, and not in the delta.
	var base uiEdge
	eventually(t, 40*time.Second, "the page shows a scrape after the warm-up", func() bool {
		base = eval[uiEdge](t, ctx, readEdge)
		u, err := time.Parse(time.RFC3339Nano, base.Updated)
		return err == nil && u.After(warmEnd.Add(time.Second)) && base.Requests >= 0
	})
	const n = 600
	if f := send(n)["failed"]; f > 0 {
		t.Fatalf("%d of %d requests failed", f, n)
	}
	var now uiEdge
	eventually(t, 20*time.Second, "the page catches up with the client", func() bool {
		now = eval[uiEdge](t, ctx, readEdge)
		return now.Requests-base.Requests >= n
	})
	got := now.Requests - base.Requests
	if diff := math.Abs(float64(got-n)) / n; diff > 0.02 {
		t.Errorf("the page counts %d requests frontend -> catalog, the client sent %d (%.1f %% off, want <= 2 %%)", got, n, 100*diff)
	}
	// The graph: every service, the edge's live rate and success rate.
	for _, s := range []string{"frontend", "catalog", "ratings"} {
		if !eval[bool](t, ctx, fmt.Sprintf(`!!document.querySelector('#topology .node[data-service="%s"]')`, s)) {
			t.Errorf("the graph lacks %s", s)
		}
	}
	if !eval[bool](t, ctx, `!!document.querySelector('#topology .edge[data-source="frontend"][data-destination="ratings"]')`) {
		t.Error("the graph lacks the edge frontend -> ratings")
	}
	// (The warm-up's requests may have failed while endpoints arrived:
	// the success rate is what the window holds, coloured by its rule.)
	rps, success := edgeLabel(t, now.Label)
	if rps <= 0 || success <= 0 || success > 100 {
		t.Errorf("edge label %q: want a rate > 0 req/s and a success rate", now.Label)
	}
	want := "bad"
	switch {
	case success >= 99:
		want = "ok"
	case success >= 95:
		want = "warn"
	}
	if now.Class != "edge "+want {
		t.Errorf("edge class %q for %.1f %% success, want %q", now.Class, success, "edge "+want)
	}
	screenshot(t, ctx, "topology")

	// Services: versions with their numbers, instances with identities.
	run(t, ctx, "services page", chromedp.Navigate("http://"+dash+"/#/services"),
		chromedp.WaitVisible(chromedp.CSS(`.service[data-service="catalog"] .versions tr[data-version="v2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.service[data-service="catalog"] .instances tr[data-instance="catalog-v1"]`)))
	if txt := eval[string](t, ctx, `document.querySelector('.service[data-service="catalog"]').textContent`); !strings.Contains(txt, "spiffe://") || !strings.Contains(txt, "ready") {
		t.Errorf("the catalog card lacks an identity or health: %s", txt)
	}
	checkCertColumn(t, ctx, c)
	checkCertAlert(t, ctx)
	screenshot(t, ctx, "services")

	// The route page: observed split before the change (90/10).
	run(t, ctx, "routes page", chromedp.Navigate("http://"+dash+"/#/routes"),
		chromedp.WaitVisible(chromedp.CSS(`.route[data-route="catalog-split"] tr[data-backend="catalog / v2"]`)))
	before := observedV2(t, ctx)
	if before > 0.2 {
		t.Fatalf("observed share of v2 before the change: %.2f, want about 0.10", before)
	}
	// The weight change: the token typed in the page, edit, review, confirm.
	token, err := os.ReadFile(filepath.Join(c.creds, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	v1In := `.route[data-route="catalog-split"] tr[data-rule="1"][data-backend="catalog / v1"] input.weight`
	v2In := `.route[data-route="catalog-split"] tr[data-rule="1"][data-backend="catalog / v2"] input.weight`
	run(t, ctx, "enter the token", chromedp.SendKeys(chromedp.CSS("#token"), strings.TrimSpace(string(token))), chromedp.Click(chromedp.CSS("#token-save")),
		chromedp.WaitVisible(chromedp.CSS(`#token-clear`)))
	run(t, ctx, "edit the weights",
		chromedp.Focus(chromedp.CSS(v1In)), chromedp.SetValue(chromedp.CSS(v1In), ""), chromedp.SendKeys(chromedp.CSS(v1In), "10"),
		chromedp.Focus(chromedp.CSS(v2In)), chromedp.SetValue(chromedp.CSS(v2In), ""), chromedp.SendKeys(chromedp.CSS(v2In), "90"),
		chromedp.Click(chromedp.CSS(`.route[data-route="catalog-split"] button.review`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm #weight-diff`)))
	diff := eval[string](t, ctx, `document.getElementById('weight-diff').textContent`)
	if !strings.Contains(diff, "catalog / v1") || !strings.Contains(diff, "9010") || !strings.Contains(diff, "1090") {
		t.Errorf("the confirmation shows %q, want v1 90 -> 10 and v2 10 -> 90", diff)
	}
	screenshot(t, ctx, "confirm")
	run(t, ctx, "confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
	var result string
	eventually(t, 20*time.Second, "the page reports the new revision", func() bool {
		result = eval[string](t, ctx, `document.querySelector('.route[data-route="catalog-split"] .result').textContent`)
		return strings.HasPrefix(result, "applied: revision ") || strings.HasPrefix(result, "refused")
	})
	rev, err := strconv.Atoi(strings.Fields(strings.TrimPrefix(result, "applied: revision "))[0])
	if err != nil {
		t.Fatalf("after confirming: %q", result)
	}

	// The client sees the split move: 10/90 once the sidecars have it.
	eventually(t, 30*time.Second, "the client sees mostly v2", func() bool { return send(100)["v2"] >= 75 })
	const m = 1500
	split := send(m)
	if split["failed"] > 0 {
		t.Errorf("%d of %d requests failed after the weight change", split["failed"], m)
	}
	if share := float64(split["v2"]) / m; math.Abs(share-0.9) > 0.04 {
		t.Errorf("client: v2 answered %.1f %% of %d requests after the change, want 90 ± 4 %%", 100*share, m)
	}
	// ... and so does the page: the window's observed share of v2 climbs
	// from about 10 % by 30 points at least (to about 60 % once every
	// request above is scraped: the window still holds the earlier ones).
	var after float64
	eventually(t, 20*time.Second, "the page's observed split moves to v2", func() bool {
		after = observedV2(t, ctx)
		return after > before+0.3
	})
	t.Logf("observed v2 share on the route page: %.2f before, %.2f after; client %v", before, after, split)
	if w := eval[string](t, ctx, `document.querySelector('.route[data-route="catalog-split"] tr[data-backend="catalog / v2"] td.num').textContent`); w != "90" {
		t.Errorf("the route page shows v2's weight %q, want 90", w)
	}
	screenshot(t, ctx, "routes")

	// History: the new revision, in force, with the weight diff.
	run(t, ctx, "history page", chromedp.Navigate("http://"+dash+"/#/history"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.revision[data-revision="%d"]`, rev))))
	if txt := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('.revision[data-revision="%d"]').textContent`, rev)); !strings.Contains(txt, "in force") || !strings.Contains(txt, "catalog-split") || !strings.Contains(txt, "weight") {
		t.Errorf("history entry #%d: %s", rev, txt)
	}
	if out, ok := weft(t, c.api, "", "history"); !ok || !strings.Contains(out, strconv.Itoa(rev)) {
		t.Errorf("weft history lacks revision %d: %s", rev, out)
	}
	screenshot(t, ctx, "history")
	// Rollback from the page: confirmed, it is a new revision in force.
	run(t, ctx, "roll back to #1", chromedp.Click(chromedp.CSS(`.revision[data-revision="1"] button.rollback`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)), chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.revision[data-revision="%d"]`, rev+1))))
	if txt := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('.revision[data-revision="%d"]').textContent`, rev+1)); !strings.Contains(txt, "rollback to 1") || !strings.Contains(txt, "in force") {
		t.Errorf("history entry #%d after the rollback: %s", rev+1, txt)
	}
	eventually(t, 30*time.Second, "the client sees mostly v1 again", func() bool { return send(100)["v1"] >= 75 })

	// Failures: the fault's aborts under their response flag.
	run(t, ctx, "failures page", chromedp.Navigate("http://"+dash+"/#/failures"), chromedp.WaitVisible(chromedp.CSS(`#failure-table`)))
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := weft(t, c.api, "", "stat", "-o", "json")
			t.Logf("weft stat -o json:\n%s\nfailures page: %s", out, eval[string](t, ctx, `document.getElementById('page-failures').textContent`))
		}
	})
	eventually(t, 20*time.Second, "the failures page shows the fault's aborts (503, FI)", func() bool {
		return eval[bool](t, ctx, `!!document.querySelector('#failure-table tr[data-flags="FI"][data-code="503"]')`)
	})
	screenshot(t, ctx, "failures")
	run(t, ctx, "proxies page", chromedp.Navigate("http://"+dash+"/#/proxies"),
		chromedp.WaitVisible(chromedp.CSS(`#proxy-table tr[data-node]`)))
	if txt := eval[string](t, ctx, `document.getElementById('proxy-table').textContent`); !strings.Contains(txt, "SYNCED") {
		t.Errorf("proxies page: %s", txt)
	}
	screenshot(t, ctx, "proxies")

	// A link with the token in its fragment (what weft demo prints): the
	// page keeps the token for the tab and takes it out of the address.
	run(t, ctx, "forget the token", chromedp.Click(chromedp.CSS("#token-clear")))
	if eval[string](t, ctx, `sessionStorage.getItem('weft.operatorToken') || ''`) != "" {
		t.Error("forget left the token in sessionStorage")
	}
	run(t, ctx, "open a link with the token", chromedp.Navigate("http://"+dash+"/#token="+url.QueryEscape(strings.TrimSpace(string(token)))),
		chromedp.WaitVisible(chromedp.CSS("#token-clear")))
	if got := eval[string](t, ctx, `sessionStorage.getItem('weft.operatorToken') + ' ' + location.hash`); got != strings.TrimSpace(string(token))+" #/topology" {
		t.Errorf("after a #token= link: token and fragment %q", got)
	}

	// A write without the token is refused, as through the CLI.
	resp, err := http.Post("http://"+dash+"/v1/rollback/1", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("rollback without the token through the dashboard: %s, want 401", resp.Status)
	}
}

// observedV2 is v2's share of the split the route page shows.
func observedV2(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	return eval[float64](t, ctx, `Number(document.querySelector('.route[data-route="catalog-split"] tr[data-backend="catalog / v2"]').dataset.observed)`)
}

// edgeLabel reads "12.3 req/s · 99.5 % · p99 4.1 ms".
func edgeLabel(t *testing.T, label string) (rps, success float64) {
	t.Helper()
	parts := strings.Split(label, " · ")
	if len(parts) != 3 || !strings.HasSuffix(parts[0], " req/s") || !strings.HasSuffix(parts[1], " %") || !strings.HasPrefix(parts[2], "p99 ") {
		t.Fatalf("edge label %q: want RATE req/s · SUCCESS %% · p99 LATENCY", label)
	}
	rps, err1 := strconv.ParseFloat(strings.TrimSuffix(parts[0], " req/s"), 64)
	success, err2 := strconv.ParseFloat(strings.TrimSuffix(parts[1], " %"), 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("edge label %q: %v %v", label, err1, err2)
	}
	return rps, success
}
