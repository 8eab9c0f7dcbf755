package telemetry

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// istioCollector exposes the request and TCP series at scrape time, with
// the names and labels the options chose.
type istioCollector struct {
	m                                  *istioMetrics
	kept                               []int // label indexes exposed, in Istio's order
	tcpKept                            []int
	requests, duration, reqB, respB    *prometheus.Desc
	tcpSent, tcpRecv, tcpOpen, tcpClos *prometheus.Desc
	dropped                            *prometheus.Desc
}

func newIstioCollector(m *istioMetrics) *istioCollector {
	c := &istioCollector{m: m}
	var names, tcpNames []string
	for i, n := range LabelNames {
		if m.drop[i] {
			continue
		}
		c.kept = append(c.kept, i)
		names = append(names, n)
		if i != lResponseCode && i != lGRPCStatus {
			c.tcpKept = append(c.tcpKept, i)
			tcpNames = append(tcpNames, n)
		}
	}
	p := m.opts.Names + "_"
	c.requests = prometheus.NewDesc(p+"requests_total", "Requests handled, labelled as Istio's standard metrics: each call is reported by the caller's sidecar (reporter=source) and the callee's (reporter=destination).", names, nil)
	c.duration = prometheus.NewDesc(p+"request_duration_milliseconds", "Time from the request head to the end of the response, in milliseconds.", names, nil)
	c.reqB = prometheus.NewDesc(p+"request_bytes", "Request body sizes, in bytes.", names, nil)
	c.respB = prometheus.NewDesc(p+"response_bytes", "Response body sizes, in bytes.", names, nil)
	c.tcpSent = prometheus.NewDesc(p+"tcp_sent_bytes_total", "Bytes of TCP connections sent back to the downstream (the response direction).", tcpNames, nil)
	c.tcpRecv = prometheus.NewDesc(p+"tcp_received_bytes_total", "Bytes of TCP connections received from the downstream (the request direction).", tcpNames, nil)
	c.tcpOpen = prometheus.NewDesc(p+"tcp_connections_opened_total", "TCP connections opened.", tcpNames, nil)
	c.tcpClos = prometheus.NewDesc(p+"tcp_connections_closed_total", "TCP connections closed.", tcpNames, nil)
	c.dropped = prometheus.NewDesc("weft_metrics_series_dropped_total", "Observations not recorded because the proxy's cap on request and TCP series (metrics.maxSeries) was reached.", nil, nil)
	return c
}

func (c *istioCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.duration, c.reqB, c.respB, c.tcpSent, c.tcpRecv, c.tcpOpen, c.tcpClos, c.dropped} {
		ch <- d
	}
}

func orUnknown(s string) string {
	if s == "" {
		return Unknown
	}
	return s
}

// values renders a key's labels in Istio's order.
func values(k *seriesKey) [numLabels]string {
	var v [numLabels]string
	v[lReporter] = k.reporter.String()
	v[lSrcWorkload] = orUnknown(k.src.Name)
	v[lSrcCanonicalService] = orUnknown(k.src.CanonicalService)
	v[lSrcCanonicalRevision] = orUnknown(k.src.CanonicalRevision)
	v[lSrcNamespace] = orUnknown(k.src.Namespace)
	v[lSrcPrincipal] = orUnknown(k.src.Principal)
	v[lSrcApp] = orUnknown(k.src.App)
	v[lSrcVersion] = orUnknown(k.src.Version)
	v[lSrcCluster] = orUnknown(k.src.Cluster)
	v[lDstWorkload] = orUnknown(k.dst.Name)
	v[lDstNamespace] = orUnknown(k.dst.Namespace)
	v[lDstPrincipal] = orUnknown(k.dst.Principal)
	v[lDstApp] = orUnknown(k.dst.App)
	v[lDstVersion] = orUnknown(k.dst.Version)
	v[lDstService] = orUnknown(k.svc.Host)
	v[lDstCanonicalService] = orUnknown(k.dst.CanonicalService)
	v[lDstCanonicalRevision] = orUnknown(k.dst.CanonicalRevision)
	v[lDstServiceName] = orUnknown(k.svc.Name)
	v[lDstServiceNamespace] = orUnknown(k.svc.Namespace)
	v[lDstCluster] = orUnknown(k.dst.Cluster)
	v[lProtocol] = k.proto.String()
	v[lResponseCode] = strconv.Itoa(int(k.code))
	if k.grpc >= 0 {
		v[lGRPCStatus] = strconv.Itoa(int(k.grpc))
	}
	v[lResponseFlags] = k.flag.String()
	switch {
	case k.reporter == ReporterSource:
		v[lSecurityPolicy] = Unknown // the caller cannot see the callee's policy
	case k.mtls:
		v[lSecurityPolicy] = "mutual_tls"
	default:
		v[lSecurityPolicy] = "none"
	}
	return v
}

func pick(all *[numLabels]string, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = all[j]
	}
	return out
}

func histogram(bounds []float64, counts []atomic.Uint64) (map[float64]uint64, uint64) {
	b := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, ub := range bounds {
		cum += counts[i].Load()
		b[ub] = cum
	}
	return b, cum + counts[len(bounds)].Load()
}

func (c *istioCollector) Collect(ch chan<- prometheus.Metric) {
	o := &c.m.opts
	c.m.reqs.Range(func(k, v any) bool {
		key, s := k.(seriesKey), v.(*reqSeries)
		all := values(&key)
		lv := pick(&all, c.kept)
		// The histograms' counts come from their buckets, read once, so a
		// scrape racing a request still exposes a consistent histogram.
		db, dn := histogram(o.DurationBuckets, s.dur)
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(s.count.Load()), lv...)
		ch <- prometheus.MustNewConstHistogram(c.duration, dn, float64(s.durSumNs.Load())/1e6, db, lv...)
		qb, qn := histogram(o.BytesBuckets, s.reqB)
		ch <- prometheus.MustNewConstHistogram(c.reqB, qn, float64(s.reqSum.Load()), qb, lv...)
		rb, rn := histogram(o.BytesBuckets, s.resB)
		ch <- prometheus.MustNewConstHistogram(c.respB, rn, float64(s.respSum.Load()), rb, lv...)
		return true
	})
	c.m.tcp.Range(func(k, v any) bool {
		key, s := k.(seriesKey), v.(*tcpSeries)
		all := values(&key)
		lv := pick(&all, c.tcpKept)
		ch <- prometheus.MustNewConstMetric(c.tcpSent, prometheus.CounterValue, float64(s.sent.Load()), lv...)
		ch <- prometheus.MustNewConstMetric(c.tcpRecv, prometheus.CounterValue, float64(s.received.Load()), lv...)
		ch <- prometheus.MustNewConstMetric(c.tcpOpen, prometheus.CounterValue, float64(s.opened.Load()), lv...)
		ch <- prometheus.MustNewConstMetric(c.tcpClos, prometheus.CounterValue, float64(s.closed.Load()), lv...)
		return true
	})
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(c.m.dropped.Load()))
}
