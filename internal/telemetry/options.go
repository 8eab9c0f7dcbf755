package telemetry

import (
	"fmt"
	"slices"
)

// MetricsOptions bound and name the request metrics. The zero value is
// the default: weft_* names, every label, Istio's buckets, 10,000 series.
type MetricsOptions struct {
	// Names is "weft" (default: weft_requests_total, ...) or "istio"
	// (istio_requests_total, ...: Istio's exact names, for its Grafana
	// dashboards and Kiali).
	Names string
	// DropLabels lists labels left out of every request and TCP series
	// (e.g. source_principal), to bound cardinality. reporter cannot be
	// dropped: without it each call counts twice.
	DropLabels []string
	// DurationBuckets are the request duration histogram's upper bounds in
	// milliseconds, ascending. Default: Istio's (0.5 ms to 1 h).
	DurationBuckets []float64
	// BytesBuckets are the request and response size histograms' upper
	// bounds in bytes, ascending. Default: Istio's (1 B to 100 MB, ×10).
	BytesBuckets []float64
	// MaxSeries caps the request and TCP series this proxy keeps; an
	// observation that would start one more is counted in
	// weft_metrics_series_dropped_total instead. Default 10000.
	MaxSeries int
}

// Istio's default buckets (its stats filter's).
var (
	defaultDurationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}
	defaultBytesBuckets    = []float64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}
)

// Limits on the options themselves.
const (
	DefaultMaxSeries = 10000
	maxBuckets       = 40
	maxSeriesCap     = 1000000
)

// Validate checks the options; field paths are relative to the metrics
// block (prefix names the block in messages).
func (o *MetricsOptions) Validate(prefix string) error {
	switch o.Names {
	case "", "weft", "istio":
	default:
		return fmt.Errorf("%s.names: %q is not weft or istio", prefix, o.Names)
	}
	for i, l := range o.DropLabels {
		switch labelIndex(l) {
		case -1:
			return fmt.Errorf("%s.dropLabels[%d]: %q is not a standard label (%v)", prefix, i, l, LabelNames)
		case lReporter:
			return fmt.Errorf("%s.dropLabels[%d]: reporter cannot be dropped: each call is reported by both sidecars", prefix, i)
		}
	}
	if err := checkBuckets(o.DurationBuckets); err != nil {
		return fmt.Errorf("%s.durationBuckets: %w", prefix, err)
	}
	if err := checkBuckets(o.BytesBuckets); err != nil {
		return fmt.Errorf("%s.bytesBuckets: %w", prefix, err)
	}
	if o.MaxSeries < 0 || o.MaxSeries > maxSeriesCap {
		return fmt.Errorf("%s.maxSeries: %d is outside 0..%d (0 means %d)", prefix, o.MaxSeries, maxSeriesCap, DefaultMaxSeries)
	}
	return nil
}

func checkBuckets(b []float64) error {
	if len(b) > maxBuckets {
		return fmt.Errorf("%d buckets, at most %d", len(b), maxBuckets)
	}
	for i, v := range b {
		if !(v > 0) || v > 1e15 {
			return fmt.Errorf("[%d]: %v is not a positive bound", i, v)
		}
		if i > 0 && v <= b[i-1] {
			return fmt.Errorf("[%d]: %v is not above %v: bounds must ascend", i, v, b[i-1])
		}
	}
	return nil
}

// withDefaults returns o with defaults filled, assuming it validated.
func (o MetricsOptions) withDefaults() MetricsOptions {
	if o.Names == "" {
		o.Names = "weft"
	}
	if len(o.DurationBuckets) == 0 {
		o.DurationBuckets = defaultDurationBuckets
	}
	if len(o.BytesBuckets) == 0 {
		o.BytesBuckets = defaultBytesBuckets
	}
	if o.MaxSeries == 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	o.DurationBuckets = slices.Clone(o.DurationBuckets)
	o.BytesBuckets = slices.Clone(o.BytesBuckets)
	return o
}
