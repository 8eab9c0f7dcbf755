package telemetry

import (
	"sync"
	"sync/atomic"
)

// seriesKey is one label tuple. Dropped labels are zeroed before lookup,
// so tuples that differ only in them share a series.
type seriesKey struct {
	reporter Reporter
	src, dst Workload
	svc      Service
	proto    Protocol
	code     int16
	grpc     int8
	flag     Flag
	mtls     bool
}

// reqSeries is one request label tuple's counter and histograms. Bucket
// counts are per bucket (not cumulative); the last one is +Inf.
type reqSeries struct {
	count           atomic.Uint64
	durSumNs        atomic.Uint64
	reqSum, respSum atomic.Uint64
	dur, reqB, resB []atomic.Uint64
}

// tcpSeries is one TCP label tuple's counters.
type tcpSeries struct {
	opened, closed, sent, received atomic.Uint64
}

// TCPSeries is a connection's handle on its series, taken when the
// connection opens. Nil (the cap was reached, or metrics are off) is
// valid and records nothing.
type TCPSeries struct{ s *tcpSeries }

// istioMetrics holds the request and TCP series.
type istioMetrics struct {
	opts    MetricsOptions
	drop    [numLabels]bool
	dropAny bool
	durNs   []uint64 // DurationBuckets in ns, for the hot path's compare
	reqs    sync.Map // seriesKey -> *reqSeries
	tcp     sync.Map // seriesKey -> *tcpSeries
	series  atomic.Int64
	dropped atomic.Uint64
}

func newIstioMetrics(o MetricsOptions) *istioMetrics {
	o = o.withDefaults()
	m := &istioMetrics{opts: o}
	for _, l := range o.DropLabels {
		if i := labelIndex(l); i > lReporter {
			m.drop[i] = true
			m.dropAny = true
		}
	}
	m.durNs = make([]uint64, len(o.DurationBuckets))
	for i, ms := range o.DurationBuckets {
		m.durNs[i] = uint64(ms * 1e6)
	}
	return m
}

func (m *istioMetrics) key(rep Reporter, src, dst *Workload, svc *Service, proto Protocol, code, grpc int, f Flag, mtls bool) seriesKey {
	nf, ncode, ngrpc := normScalars(f, code, grpc) // keeps the labels' values to their vocabularies
	k := seriesKey{reporter: rep, src: *src, dst: *dst, svc: *svc, proto: proto, code: ncode, grpc: ngrpc, flag: nf, mtls: mtls}
	if m.dropAny {
		m.zeroDropped(&k)
	}
	return k
}

// zeroDropped blanks the labels the options drop.
func (m *istioMetrics) zeroDropped(k *seriesKey) {
	d := &m.drop
	zw := func(w *Workload, name, canonSvc, canonRev, ns, principal, app, version, cluster int) {
		if d[name] {
			w.Name = ""
		}
		if d[canonSvc] {
			w.CanonicalService = ""
		}
		if d[canonRev] {
			w.CanonicalRevision = ""
		}
		if d[ns] {
			w.Namespace = ""
		}
		if d[principal] {
			w.Principal = ""
		}
		if d[app] {
			w.App = ""
		}
		if d[version] {
			w.Version = ""
		}
		if d[cluster] {
			w.Cluster = ""
		}
	}
	zw(&k.src, lSrcWorkload, lSrcCanonicalService, lSrcCanonicalRevision, lSrcNamespace, lSrcPrincipal, lSrcApp, lSrcVersion, lSrcCluster)
	zw(&k.dst, lDstWorkload, lDstCanonicalService, lDstCanonicalRevision, lDstNamespace, lDstPrincipal, lDstApp, lDstVersion, lDstCluster)
	if d[lDstService] {
		k.svc.Host = ""
	}
	if d[lDstServiceName] {
		k.svc.Name = ""
	}
	if d[lDstServiceNamespace] {
		k.svc.Namespace = ""
	}
	if d[lProtocol] {
		k.proto = 0
	}
	if d[lResponseCode] {
		k.code = 0
	}
	if d[lGRPCStatus] {
		k.grpc = -1
	}
	if d[lResponseFlags] {
		k.flag = FlagNone
	}
	if d[lSecurityPolicy] {
		k.mtls = false
	}
}

// admit reserves room for one more series, or counts a dropped
// observation and refuses.
func (m *istioMetrics) admit() bool {
	if m.series.Add(1) > int64(m.opts.MaxSeries) {
		m.series.Add(-1)
		m.dropped.Add(1)
		return false
	}
	return true
}

func (m *istioMetrics) request(r *Request) {
	s := r.last.s
	if s == nil || r.last.m != m || m.dropAny || !r.last.key.sameKey(r) {
		k := m.key(r.Reporter, &r.Source, &r.Destination, &r.Service, r.Protocol, r.Code, r.GRPCStatus, r.Flag, r.MTLS)
		if s == nil || r.last.m != m || r.last.key != k {
			if s = m.seriesFor(k); s == nil {
				return
			}
			r.last = lastSeries{m: m, key: k, s: s}
		}
	}
	s.count.Add(1)
	ns := uint64(max(r.Duration, 0))
	s.durSumNs.Add(ns)
	s.dur[bucketU(m.durNs, ns)].Add(1)
	rq, rs := uint64(max(r.RequestBytes, 0)), uint64(max(r.ResponseBytes, 0))
	s.reqSum.Add(rq)
	s.respSum.Add(rs)
	s.reqB[bucketF(m.opts.BytesBuckets, float64(rq))].Add(1)
	s.resB[bucketF(m.opts.BytesBuckets, float64(rs))].Add(1)
}

// seriesFor finds or makes k's request series; nil past the cap.
func (m *istioMetrics) seriesFor(k seriesKey) *reqSeries {
	v, ok := m.reqs.Load(k)
	if !ok {
		if !m.admit() {
			return nil
		}
		s := &reqSeries{
			dur:  make([]atomic.Uint64, len(m.opts.DurationBuckets)+1),
			reqB: make([]atomic.Uint64, len(m.opts.BytesBuckets)+1),
			resB: make([]atomic.Uint64, len(m.opts.BytesBuckets)+1),
		}
		var loaded bool
		if v, loaded = m.reqs.LoadOrStore(k, s); loaded {
			m.series.Add(-1) // another request made it first
		}
	}
	return v.(*reqSeries)
}

// bucketU is the index of the first bound >= v, or len(bounds) (+Inf).
func bucketU(bounds []uint64, v uint64) int {
	for i, b := range bounds {
		if v <= b {
			return i
		}
	}
	return len(bounds)
}

func bucketF(bounds []float64, v float64) int {
	for i, b := range bounds {
		if v <= b {
			return i
		}
	}
	return len(bounds)
}

func (m *istioMetrics) tcpOpened(c *Conn) TCPSeries {
	k := m.key(c.Reporter, &c.Source, &c.Destination, &c.Service, ProtocolTCP, 0, -1, c.Flag, c.MTLS)
	v, ok := m.tcp.Load(k)
	if !ok {
		if !m.admit() {
			return TCPSeries{}
		}
		var loaded bool
		if v, loaded = m.tcp.LoadOrStore(k, &tcpSeries{}); loaded {
			m.series.Add(-1)
		}
	}
	s := v.(*tcpSeries)
	s.opened.Add(1)
	return TCPSeries{s}
}

// Bytes adds bytes sent to the downstream (the response direction) and
// received from it (the request direction).
func (t TCPSeries) Bytes(sent, received int64) {
	if t.s == nil {
		return
	}
	t.s.sent.Add(uint64(max(sent, 0)))
	t.s.received.Add(uint64(max(received, 0)))
}

// Closed counts the connection's close.
func (t TCPSeries) Closed() {
	if t.s != nil {
		t.s.closed.Add(1)
	}
}
