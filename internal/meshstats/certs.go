package meshstats

import (
	"math"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/weft-mesh/weft/internal/api"
)

// The sidecar's certificate gauges (internal/sidecar: identity.go,
// certstatus.go, rootca.go). Each is one unlabelled series.
const (
	certExpiryName   = "weft_sidecar_cert_expiry_seconds"
	certExpiringName = "weft_sidecar_cert_expiring"
	certExpiredName  = "weft_sidecar_cert_expired"
	certFailuresName = "weft_sidecar_cert_renewal_failures_total"
	bundleRootsName  = "weft_sidecar_trust_bundle_roots"
)

// Bounds on what a scrape may claim, so a hostile or broken sidecar
// cannot make the API print nonsense: a year 10000 expiry, 2^63 failures.
const (
	maxNotAfter = 253402300799 // 9999-12-31T23:59:59Z
	maxFailures = 1 << 53      // exact in a float64
	maxRoots    = 1 << 10
)

// cert is one sidecar's certificate gauges: a few numbers, whatever the
// size of its exposition.
type cert struct {
	notAfter          int64 // unix seconds; 0: no certificate
	expiring, expired bool
	failures          uint64
	roots             int
}

// certOf reads the certificate gauges from a parsed exposition; a sidecar
// without them (no identity, or not Weft's) has none.
func certOf(fams map[string]*dto.MetricFamily) cert {
	var c cert
	if v, ok := gauge(fams[certExpiryName]); ok && v > 0 && v <= maxNotAfter {
		c.notAfter = int64(v)
	}
	if v, ok := gauge(fams[certExpiringName]); ok {
		c.expiring = v == 1
	}
	if v, ok := gauge(fams[certExpiredName]); ok {
		c.expired = v == 1
	}
	if v, ok := gauge(fams[certFailuresName]); ok && v >= 0 {
		c.failures = uint64(min(v, maxFailures))
	}
	if v, ok := gauge(fams[bundleRootsName]); ok && v >= 0 {
		c.roots = int(min(v, maxRoots))
	}
	return c
}

// gauge is the value of a family's first series, whatever type the
// exposition declared; not ok when absent or not a finite number.
func gauge(f *dto.MetricFamily) (float64, bool) {
	if f == nil || len(f.Metric) == 0 {
		return 0, false
	}
	m := f.Metric[0]
	var v float64
	switch {
	case m.Gauge != nil:
		v = m.Gauge.GetValue()
	case m.Counter != nil:
		v = m.Counter.GetValue()
	case m.Untyped != nil:
		v = m.Untyped.GetValue()
	default:
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// instCert is the latest certificate read from one instance's sidecar.
type instCert struct {
	inst    api.Instance
	cert    cert
	scraped time.Time
}

// status is the API's view of ic at now: the sidecar's own verdict,
// except that a NotAfter already past is EXPIRED whatever the last
// scrape said.
func (ic instCert) status(now time.Time, spiffeID func(api.Instance) string) api.CertificateStatus {
	s := api.CertificateStatus{Service: ic.inst.Service, Instance: ic.inst.ID, Version: ic.inst.Labels["version"],
		State: api.CertNone, RenewalFailures: ic.cert.failures, TrustBundleRoots: ic.cert.roots, Scraped: ic.scraped}
	if ic.cert.notAfter == 0 {
		return s
	}
	s.NotAfter = time.Unix(ic.cert.notAfter, 0).UTC()
	if spiffeID != nil {
		s.SPIFFEID = spiffeID(ic.inst)
	}
	left := s.NotAfter.Sub(now)
	switch {
	case ic.cert.expired || left <= 0:
		s.State = api.CertExpired
	case ic.cert.expiring:
		s.State, s.SecondsLeft = api.CertExpiring, int64(left/time.Second)
	default:
		s.State, s.SecondsLeft = api.CertValid, int64(left/time.Second)
	}
	return s
}

// urgency orders states for Stats.Certificates: the ones to act on first.
func urgency(state string) int {
	switch state {
	case api.CertExpired:
		return 0
	case api.CertExpiring:
		return 1
	case api.CertValid:
		return 2
	}
	return 3
}

// certificates lists every instance's certificate at now, most urgent
// first, at most api.MaxCertificates.
func certificates(certs map[string]instCert, now time.Time, spiffeID func(api.Instance) string) []api.CertificateStatus {
	out := make([]api.CertificateStatus, 0, len(certs))
	for _, ic := range certs {
		out = append(out, ic.status(now, spiffeID))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ua, ub := urgency(a.State), urgency(b.State); ua != ub {
			return ua < ub
		}
		if !a.NotAfter.Equal(b.NotAfter) {
			return a.NotAfter.Before(b.NotAfter)
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Instance < b.Instance
	})
	if len(out) > api.MaxCertificates {
		out = out[:api.MaxCertificates]
	}
	return out
}
