package e2e

import (
	"encoding/json"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// grafanaDashboard is the part of Grafana's dashboard model the test reads.
type grafanaDashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name, Type string
			Query      any `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		Type, UID string
	} `json:"datasource"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource struct {
			Type, UID string
		} `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

// dashboardVars are what Grafana would put in the queries for this mesh:
// every service, the default namespace, weft_* names; the rate window
// covers the warm-up (retries and ejections) and the load.
var dashboardVars = []struct{ name, value string }{
	{"${prefix}", "weft"}, {"$prefix", "weft"},
	{"${service}", "catalog|flaky|store"}, {"$service", "catalog|flaky|store"},
	{"${namespace}", "default"}, {"$namespace", "default"},
	{"$__rate_interval", "2m"}, {"${__rate_interval}", "2m"},
}

func substitute(expr string, vars []struct{ name, value string }) string {
	for _, v := range vars {
		expr = strings.ReplaceAll(expr, v.name, v.value)
	}
	return expr
}

// labelValues matches Grafana's label_values(metric{...}, label) variable
// query.
var labelValues = regexp.MustCompile(`^label_values\((.+), *([a-z_]+)\)$`)

// checkDashboard loads docs/grafana/weft-mesh.json and runs every panel
// query and variable query against the live Prometheus at at: each must
// parse and return data, so a renamed metric or label shows here.
func checkDashboard(t *testing.T, prom *promServer, at time.Time) {
	t.Helper()
	raw, err := os.ReadFile("../../docs/grafana/weft-mesh.json")
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("weft-mesh.json: %v", err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want >= 36", d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		q, _ := v.Query.(map[string]any)
		if v.Type != "query" || q == nil {
			continue
		}
		s, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(substitute(s, dashboardVars))
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(SERIES, LABEL)", v.Name, s)
			continue
		}
		// label_values(S, L) is the values of L among the series S selects.
		r, err := prom.query("count by ("+m[2]+") ("+m[1]+")", at)
		if err != nil || len(r.Result) == 0 {
			t.Errorf("variable %s (%s): no values: %v", v.Name, s, err)
		}
	}
	for _, want := range [][2]string{{"datasource", "datasource"}, {"service", "query"}, {"namespace", "query"}, {"prefix", "custom"}} {
		if vars[want[0]] != want[1] {
			t.Errorf("templating: variable %s is %q, want %q", want[0], vars[want[0]], want[1])
		}
	}

	var panels []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			panels = append(panels, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	queries := 0
	for _, p := range panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no query", p.ID, p.Title)
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %d %q: datasource %q, want the ${datasource} variable", p.ID, p.Title, p.Datasource.UID)
		}
		for _, tg := range p.Targets {
			queries++
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: datasource %q, want ${datasource}", p.Title, tg.RefID, tg.Datasource.UID)
			}
			expr := substitute(tg.Expr, dashboardVars)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q query %s: a variable the test does not know: %s", p.Title, tg.RefID, expr)
				continue
			}
			r, err := prom.query(expr, at)
			switch {
			case err != nil:
				t.Errorf("panel %q query %s: %v", p.Title, tg.RefID, err)
			case len(r.Result) == 0:
				t.Errorf("panel %q query %s returns no data: %s", p.Title, tg.RefID, expr)
			default:
				// NaN (a quantile or ratio of nothing) for every series is
				// no data either.
				finite := 0
				for _, s := range r.Result {
					if v := sampleValue(t, s.Value); !math.IsNaN(v) && !math.IsInf(v, 0) {
						finite++
					}
				}
				if finite == 0 {
					t.Errorf("panel %q query %s: %d series, none with a number: %s", p.Title, tg.RefID, len(r.Result), expr)
				}
				t.Logf("panel %q query %s: %d series (%d with a number), first %v", p.Title, tg.RefID, len(r.Result), finite, r.Result[0].Value[1])
			}
			// With Istio's names the queries must still parse (this mesh
			// emits none, so no data is expected).
			istio := strings.ReplaceAll(substitute(tg.Expr, append([]struct{ name, value string }{{"${prefix}", "istio"}, {"$prefix", "istio"}}, dashboardVars...)), "weft_request", "istio_request")
			if _, err := prom.query(istio, at); err != nil {
				t.Errorf("panel %q query %s with istio names: %v", p.Title, tg.RefID, err)
			}
		}
	}
	if queries < 10 {
		t.Errorf("dashboard has %d queries; expected the golden signals, TCP, retries, ejections, xDS and certificates", queries)
	}
}
