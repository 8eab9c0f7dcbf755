package sidecar

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/mtls"
)

// TestCertStatusStates: the state and the alert gauges follow the time
// left on the certificate: VALID, EXPIRING within a quarter of the
// lifetime as the sidecar has it (not the CA's backdated NotBefore) or
// within identity.warnBefore, EXPIRED after NotAfter; failures count.
func TestCertStatusStates(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var src mtls.Source
	cs := newCertStatus(&src, 0)
	now := t0
	cs.now = func() time.Time { return now }
	reg := prometheus.NewRegistry()
	reg.MustRegister(cs.metrics()...)
	gauge := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	if d := cs.dump(); d.State != CertNone {
		t.Fatalf("before a certificate: %+v", d)
	}
	// 20 s certificate, NotBefore backdated a minute, as the CA does.
	src.Set(&mtls.SVID{ID: "spiffe://weft.local/ns/default/sa/catalog",
		Certificate: tls.Certificate{Leaf: &x509.Certificate{NotBefore: t0.Add(-time.Minute), NotAfter: t0.Add(20 * time.Second)}}})
	cs.issued(t0)
	for _, c := range []struct {
		at                time.Duration
		state             string
		expiring, expired float64
	}{
		{0, CertValid, 0, 0},
		{14 * time.Second, CertValid, 0, 0},
		{16 * time.Second, CertExpiring, 1, 0}, // 4 s left < 20 s / 4
		{20 * time.Second, CertExpired, 1, 1},
		{time.Hour, CertExpired, 1, 1},
	} {
		now = t0.Add(c.at)
		if d := cs.dump(); d.State != c.state {
			t.Errorf("at +%v: state %s, want %s (%+v)", c.at, d.State, c.state, d)
		}
		if g := gauge("weft_sidecar_cert_expiring"); g != c.expiring {
			t.Errorf("at +%v: expiring %v, want %v", c.at, g, c.expiring)
		}
		if g := gauge("weft_sidecar_cert_expired"); g != c.expired {
			t.Errorf("at +%v: expired %v, want %v", c.at, g, c.expired)
		}
	}

	cs.failed(errors.New("connection refused"))
	cs.failed(errors.New("connection refused"))
	if g := gauge("weft_sidecar_cert_renewal_failures_total"); g != 2 {
		t.Errorf("renewal failures %v, want 2", g)
	}
	if d := cs.dump(); !strings.Contains(d.LastError, "refused") || d.RenewalFailures != 2 {
		t.Errorf("dump after failures: %+v", d)
	}
	cs.issued(now)
	if d := cs.dump(); d.LastError != "" {
		t.Errorf("a success clears the last error: %+v", d)
	}

	// identity.warnBefore replaces the quarter.
	cs.warnBefore = 10 * time.Second
	now = t0.Add(11 * time.Second)
	if d := cs.dump(); d.State != CertExpiring || d.WarnBefore != "10s" {
		t.Errorf("warnBefore 10s, 9s left: %+v", d)
	}
}

func TestMaxBackoff(t *testing.T) {
	for _, c := range []struct{ life, want time.Duration }{
		{0, 30 * time.Second}, {24 * time.Hour, 30 * time.Second}, {20 * time.Second, 2500 * time.Millisecond}, {2 * time.Second, time.Second},
	} {
		if got := maxBackoff(c.life); got != c.want {
			t.Errorf("maxBackoff(%v) = %v, want %v", c.life, got, c.want)
		}
	}
}

// /ready follows the certificate of a sidecar with an identity: 503
// before the first one and once it expired, 200 (with a warning while
// expiring) in between.
func TestReadyFollowsCertificate(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var src mtls.Source
	cs := newCertStatus(&src, 0)
	now := t0
	cs.now = func() time.Time { return now }
	s := &Sidecar{certs: cs}
	ready := func() (int, string) {
		rec := httptest.NewRecorder()
		s.readyCert(rec)
		return rec.Code, rec.Body.String()
	}
	if code, body := ready(); code != 503 || !strings.Contains(body, "first workload certificate") {
		t.Errorf("before a certificate: %d %q, want 503 waiting for it", code, body)
	}
	src.Set(&mtls.SVID{ID: "spiffe://weft.local/ns/default/sa/catalog",
		Certificate: tls.Certificate{Leaf: &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(20 * time.Second)}}})
	cs.issued(t0)
	if code, _ := ready(); code != 200 {
		t.Errorf("valid certificate: %d, want 200", code)
	}
	now = t0.Add(21 * time.Second)
	if code, body := ready(); code != 503 || !strings.Contains(body, "EXPIRED") {
		t.Errorf("expired: %d %q, want 503 EXPIRED", code, body)
	}
}
