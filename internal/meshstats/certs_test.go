package meshstats

import (
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weft-mesh/weft/internal/api"
)

// certGauges are a sidecar's certificate gauges under their names and
// types (internal/sidecar registers the same), in a real registry served
// on loopback.
type certGauges struct {
	notAfter, expiring, expired, failures, roots atomic.Int64
}

func sidecarWithCert(t *testing.T) (*certGauges, string) {
	m, admin := sidecarMetricsReg(t)
	g := &certGauges{}
	val := func(v *atomic.Int64) func() float64 { return func() float64 { return float64(v.Load()) } }
	m.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: certExpiryName, Help: "expiry"}, val(&g.notAfter)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: certExpiringName, Help: "expiring"}, val(&g.expiring)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: certExpiredName, Help: "expired"}, val(&g.expired)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: certFailuresName, Help: "failures"}, val(&g.failures)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: bundleRootsName, Help: "roots"}, val(&g.roots)),
	)
	return g, admin
}

func sidecarMetricsReg(t *testing.T) (*prometheus.Registry, string) {
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return reg, strings.TrimPrefix(srv.URL, "http://")
}

func TestCertificatesFromSidecarGauges(t *testing.T) {
	now := time.Now()
	valid, validAdmin := sidecarWithCert(t)
	valid.notAfter.Store(now.Add(12 * time.Hour).Unix())
	valid.roots.Store(1)
	expiring, expiringAdmin := sidecarWithCert(t)
	expiring.notAfter.Store(now.Add(10 * time.Minute).Unix())
	expiring.expiring.Store(1)
	expiring.failures.Store(3)
	expiring.roots.Store(2)
	expired, expiredAdmin := sidecarWithCert(t)
	expired.notAfter.Store(now.Add(-time.Minute).Unix())
	expired.expiring.Store(1)
	expired.expired.Store(1)
	expired.failures.Store(40)
	_, plainAdmin := sidecarMetrics(t) // a sidecar with no identity: no gauges
	insts := []api.Instance{
		{Service: "catalog", ID: "c1", Admin: validAdmin, MTLS: true, Labels: map[string]string{"version": "v1"}},
		{Service: "catalog", ID: "c2", Admin: expiringAdmin, MTLS: true, Labels: map[string]string{"version": "v2"}},
		{Service: "ratings", ID: "r1", Admin: expiredAdmin, MTLS: true},
		{Service: "legacy", ID: "l1", Admin: plainAdmin},
		{Service: "batch", ID: "b1"}, // no admin: not scraped, no row
	}
	c := New(Config{Instances: func(context.Context) ([]api.Instance, error) { return insts, nil },
		SPIFFEID: func(in api.Instance) string { return "spiffe://weft.local/ns/default/sa/" + in.Service }})
	c.Scrape(context.Background())
	got := c.Snapshot().Certificates
	var order []string
	for _, s := range got {
		order = append(order, s.Instance+"="+s.State)
	}
	if want := "r1=EXPIRED c2=EXPIRING c1=VALID l1=NONE"; strings.Join(order, " ") != want {
		t.Fatalf("certificates %v, want %s (most urgent first)", order, want)
	}
	r1, c2, c1, l1 := got[0], got[1], got[2], got[3]
	if c1.Service != "catalog" || c1.Version != "v1" || c1.SPIFFEID != "spiffe://weft.local/ns/default/sa/catalog" || c1.TrustBundleRoots != 1 || c1.RenewalFailures != 0 {
		t.Errorf("valid row %+v", c1)
	}
	if !c1.NotAfter.Equal(time.Unix(valid.notAfter.Load(), 0)) || math.Abs(float64(c1.SecondsLeft)-12*3600) > 5 {
		t.Errorf("valid row notAfter %v, %d s left, want about 12 h", c1.NotAfter, c1.SecondsLeft)
	}
	if c2.RenewalFailures != 3 || c2.TrustBundleRoots != 2 || c2.SecondsLeft <= 0 || c2.SecondsLeft > 600 {
		t.Errorf("expiring row %+v", c2)
	}
	if r1.SecondsLeft != 0 || r1.RenewalFailures != 40 {
		t.Errorf("expired row %+v", r1)
	}
	if l1.SPIFFEID != "" || !l1.NotAfter.IsZero() || l1.SecondsLeft != 0 {
		t.Errorf("row of a sidecar with no certificate %+v", l1)
	}

	// Renewed: the next scrape says VALID again, with the new expiry.
	expiring.notAfter.Store(now.Add(24 * time.Hour).Unix())
	expiring.expiring.Store(0)
	// An unreachable sidecar keeps its last figures (and when they were
	// read); a deregistered one leaves the list.
	insts[0].Admin = "127.0.0.1:1"
	insts = insts[:3]
	c.Scrape(context.Background())
	got = c.Snapshot().Certificates
	byID := map[string]api.CertificateStatus{}
	for _, s := range got {
		byID[s.Instance] = s
	}
	if len(got) != 3 || byID["c2"].State != api.CertValid || byID["c1"].State != api.CertValid {
		t.Fatalf("after renewal, an unreachable and a deregistered sidecar: %+v", got)
	}
	if !byID["c1"].Scraped.Before(byID["c2"].Scraped) {
		t.Errorf("the unreachable sidecar's row was scraped at %v, the reachable one at %v", byID["c1"].Scraped, byID["c2"].Scraped)
	}
}

// A NotAfter already past is EXPIRED even when the last scrape (taken
// before it) said VALID.
func TestCertificateExpiredSinceScrape(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ic := instCert{inst: api.Instance{Service: "a", ID: "1"}, cert: cert{notAfter: now.Unix() - 1, roots: 1}}
	if s := ic.status(now, nil); s.State != api.CertExpired || s.SecondsLeft != 0 {
		t.Fatalf("%+v, want EXPIRED with 0 s left", s)
	}
	ic.cert.notAfter = now.Unix() + 90
	if s := ic.status(now, nil); s.State != api.CertValid || s.SecondsLeft != 90 {
		t.Fatalf("%+v, want VALID with 90 s left", s)
	}
}

// Nonsense values are dropped or clamped, never shown as they are.
func TestCertGaugesBounded(t *testing.T) {
	text := `# TYPE weft_sidecar_cert_expiry_seconds gauge
weft_sidecar_cert_expiry_seconds 1e300
# TYPE weft_sidecar_cert_renewal_failures_total counter
weft_sidecar_cert_renewal_failures_total 1e300
# TYPE weft_sidecar_trust_bundle_roots gauge
weft_sidecar_trust_bundle_roots NaN
`
	_, c, err := parse(strings.NewReader(text), "x")
	if err != nil {
		t.Fatal(err)
	}
	if c.notAfter != 0 || c.failures != maxFailures || c.roots != 0 {
		t.Fatalf("%+v", c)
	}
}

// FuzzParse feeds arbitrary expositions to the scrape parser: it errs or
// returns bounded certificate figures, never panics.
func FuzzParse(f *testing.F) {
	f.Add("# TYPE weft_sidecar_cert_expiry_seconds gauge\nweft_sidecar_cert_expiry_seconds 1.8e9\nweft_sidecar_cert_expiring 1\n")
	f.Add(`weft_requests_total{reporter="source",destination_service_name="b",response_code="503",response_flags="UF"} 3` + "\n")
	f.Add("# TYPE weft_sidecar_trust_bundle_roots untyped\nweft_sidecar_trust_bundle_roots -4\n")
	f.Fuzz(func(t *testing.T, text string) {
		_, c, err := parse(strings.NewReader(text), "self")
		if err != nil {
			return
		}
		if c.notAfter < 0 || c.notAfter > maxNotAfter || c.failures > maxFailures || c.roots < 0 || c.roots > maxRoots {
			t.Fatalf("unbounded %+v", c)
		}
	})
}
