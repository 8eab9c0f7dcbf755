// Package meshstats gives the control plane the mesh's golden signals
// without a Prometheus server: it scrapes every registered sidecar's
// admin /metrics, turns counter and histogram increases into windows, and
// aggregates them per service and version (as the destination reports
// them) and per edge, source to destination (as the source reports them).
package meshstats

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// series identifies one request series on one sidecar, in the mesh's
// terms: which side reported it, the calling and called services, and
// whether it failed.
type series struct {
	source      bool   // reported by the caller's sidecar (outbound)
	from, to    string // services; from is "" when the caller is unknown
	failed      bool   // 5xx, or no response
	fromVersion string // the caller's version label, when reported
	// code and flags are kept for a response other than 2xx only (so
	// successes stay one series per edge): the response code ("0" for no
	// response) and Envoy's response flags ("" for none).
	code, flags string
}

// sample is one scrape's cumulative values of a series.
type sample struct {
	count   float64
	buckets []bucket // cumulative, ascending upper bounds, in seconds
}

type bucket struct {
	le    float64
	count float64
}

// metric families this reads: Weft's own names, Weft's Istio-label
// names, and Istio's exact names (the sidecar's `metrics.names: istio`).
var (
	counterNames   = []string{"weft_requests_total", "istio_requests_total", "weft_proxy_requests_total"}
	histogramNames = map[string]float64{ // name -> seconds per unit
		"weft_request_duration_milliseconds":  1e-3,
		"istio_request_duration_milliseconds": 1e-3,
		"weft_proxy_request_duration_seconds": 1,
	}
)

// maxScrape caps one sidecar's /metrics body.
const maxScrape = 16 << 20

// parse reads a sidecar's exposition and returns its request series and
// its certificate gauges; self is the scraped instance's service (the
// implicit side of series that carry only a direction).
func parse(r io.Reader, self string) (map[series]*sample, cert, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(r, maxScrape))
	if err != nil {
		return nil, cert{}, fmt.Errorf("parse metrics: %w", err)
	}
	out := map[series]*sample{}
	get := func(k series) *sample {
		s := out[k]
		if s == nil {
			s = &sample{}
			out[k] = s
		}
		return s
	}
	for _, name := range counterNames {
		f := fams[name]
		if f == nil {
			continue
		}
		for _, m := range f.Metric {
			k, ok := seriesOf(m.Label, self)
			if !ok {
				continue
			}
			v := 0.0
			if c := m.Counter; c != nil {
				v = c.GetValue()
			} else if u := m.Untyped; u != nil {
				v = u.GetValue()
			}
			get(k).count += v
		}
		break // one naming scheme per sidecar
	}
	for name, unit := range histogramNames {
		f := fams[name]
		if f == nil {
			continue
		}
		for _, m := range f.Metric {
			k, ok := seriesOf(m.Label, self)
			if !ok || m.Histogram == nil {
				continue
			}
			s := get(k)
			s.buckets = addBuckets(s.buckets, m.Histogram, unit)
		}
		break
	}
	return out, certOf(fams), nil
}

// addBuckets sums h's cumulative buckets into acc (same bounds across a
// sidecar's series; differing bounds are merged by upper bound).
func addBuckets(acc []bucket, h *dto.Histogram, unit float64) []bucket {
	for _, b := range h.Bucket {
		le := b.GetUpperBound() * unit
		if math.IsInf(le, 1) {
			continue
		}
		i := 0
		for i < len(acc) && acc[i].le < le {
			i++
		}
		if i < len(acc) && acc[i].le == le {
			acc[i].count += float64(b.GetCumulativeCount())
			continue
		}
		acc = append(acc, bucket{})
		copy(acc[i+1:], acc[i:])
		acc[i] = bucket{le: le, count: float64(b.GetCumulativeCount())}
	}
	return acc
}

// seriesOf maps a series' labels to mesh terms, from Istio's labels
// (reporter, source_workload, destination_service_name, response_code)
// or Weft's older ones (direction, service, code_class).
func seriesOf(labels []*dto.LabelPair, self string) (series, bool) {
	l := map[string]string{}
	for _, p := range labels {
		l[p.GetName()] = p.GetValue()
	}
	var k series
	switch {
	case l["reporter"] == "source" || l["direction"] == "outbound":
		k.source = true
	case l["reporter"] == "destination" || l["direction"] == "inbound":
	default:
		return k, false
	}
	to := l["destination_service_name"]
	if to == "" {
		to = serviceName(l["destination_service"])
	}
	if to == "" && l["destination_workload"] != "" && l["destination_workload"] != "unknown" {
		to = l["destination_workload"]
	}
	// The caller's service: Istio's canonical service (the app), else
	// its app label, else its workload.
	from := ""
	for _, k := range []string{"source_canonical_service", "source_app", "source_workload"} {
		if v := l[k]; v != "" && v != "unknown" {
			from = v
			break
		}
	}
	if k.source {
		if from == "" {
			from = self
		}
		if to == "" {
			to = serviceName(l["service"])
		}
	} else if to == "" {
		to = self
	}
	if to == "unknown" {
		to = ""
	}
	k.from, k.to, k.fromVersion = from, to, l["source_version"]
	if k.fromVersion == "unknown" {
		k.fromVersion = ""
	}
	switch code := l["response_code"]; {
	case code != "":
		n, _ := strconv.Atoi(code)
		k.failed = n == 0 || n >= 500
		if n < 200 || n > 299 {
			k.code = strconv.Itoa(n)
			if f := l["response_flags"]; f != "-" {
				k.flags = f
			}
		}
	default:
		c := l["code_class"]
		k.failed = c == "5xx" || c == "" || c == "0xx" || c == "none"
		if c != "2xx" {
			k.code = c
		}
	}
	// No destination: the sidecar answered before it picked one (no
	// route, a fault, a rate limit). Not an edge, but a failure to show.
	return k, to != "" || k.code != ""
}

// serviceName reduces a cluster or service host ("catalog",
// "catalog.default", "catalog.default.svc.cluster.local", a subset's
// cluster "catalog.default/v1")
// to the service's name, with a namespace other than default kept.
func serviceName(s string) string {
	if i := strings.IndexAny(s, "|~/"); i >= 0 {
		s = s[:i]
	}
	name, rest, _ := strings.Cut(s, ".")
	ns, _, _ := strings.Cut(rest, ".")
	if ns == "" || ns == "default" || ns == "svc" {
		return name
	}
	return name + "." + ns
}
