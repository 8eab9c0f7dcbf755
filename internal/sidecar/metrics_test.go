package sidecar

import (
	"log/slog"
	"strings"
	"testing"
)

// A bad metrics block is refused with the field's path; a good one parses.
func TestMetricsConfigValidation(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"metrics: {names: prom}", "metrics.names"},
		{"metrics: {dropLabels: [pod]}", "metrics.dropLabels[0]"},
		{"metrics: {dropLabels: [reporter]}", "reporter cannot be dropped"},
		{"metrics: {durationBuckets: [10, 1]}", "metrics.durationBuckets"},
		{"metrics: {bytesBuckets: [0]}", "metrics.bytesBuckets"},
		{"metrics: {maxSeries: -5}", "metrics.maxSeries"},
		{"metrics: {cluster: 'a;b'}", "metrics.cluster"},
		{"metrics: {colour: red}", "colour"},
	} {
		_, err := Parse([]byte("service: web\n" + tc.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", tc.yaml, err, tc.want)
		}
	}
	cfg, err := Parse([]byte("service: web\nmetrics: {names: istio, dropLabels: [source_principal], durationBuckets: [1, 10], bytesBuckets: [100], maxSeries: 50, cluster: eu-1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Metrics.options(); o.Names != "istio" || o.MaxSeries != 50 || len(o.DurationBuckets) != 2 {
		t.Errorf("options %+v", o)
	}
}

// The metrics block is read at start: a reload that changes it is refused
// and the running one stays.
func TestMetricsReloadRefused(t *testing.T) {
	cfg, err := Parse([]byte("service: web\nadmin: 'off'\n"))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	next, err := Parse([]byte("service: web\nadmin: 'off'\nmetrics: {names: istio}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Reload(next); err == nil || !strings.Contains(err.Error(), "metrics changed") {
		t.Errorf("reload with a new metrics block: %v", err)
	}
}

// This workload's labels come from its service and registration labels.
func TestSelfLabels(t *testing.T) {
	cfg := &Config{Service: "catalog.shop", Register: &Registration{Labels: map[string]string{"version": "v3", "app": "store"}},
		Metrics: &Metrics{Cluster: "eu-1"}}
	s := self(cfg)
	w := s.Workload
	if w.Name != "catalog" || w.Namespace != "shop" || w.App != "store" || w.Version != "v3" || w.Cluster != "eu-1" ||
		w.CanonicalService != "store" || w.CanonicalRevision != "v3" {
		t.Errorf("workload %+v", w)
	}
	if s.Service.Host != "catalog.shop" || s.Service.Name != "catalog" || s.Service.Namespace != "shop" {
		t.Errorf("service %+v", s.Service)
	}
	if got, want := s.HeaderValue(), "workload=catalog;namespace=shop;app=store;version=v3;cluster=eu-1"; got != want {
		t.Errorf("peer header %q, want %q", got, want)
	}
}

// WEFT_METRICS_NAMES is metrics.names' default for every sidecar started
// in its environment; the field wins, and a bad value is refused by name.
func TestMetricsNamesFromEnvironment(t *testing.T) {
	t.Setenv(metricsNamesEnv, "istio")
	cfg, err := Parse([]byte("service: web\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Metrics.options(); o.Names != "istio" {
		t.Errorf("no metrics block: names %q, want istio from the environment", o.Names)
	}
	cfg, err = Parse([]byte("service: web\nmetrics: {names: weft, maxSeries: 10}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Metrics.options(); o.Names != "weft" {
		t.Errorf("names %q, want the field's weft over the environment", o.Names)
	}
	t.Setenv(metricsNamesEnv, "prometheus")
	if _, err := Parse([]byte("service: web\n")); err == nil || !strings.Contains(err.Error(), "$WEFT_METRICS_NAMES") {
		t.Errorf("bad environment value: error %v, want one naming $WEFT_METRICS_NAMES", err)
	}
}
