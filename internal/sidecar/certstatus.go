package sidecar

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/mtls"
)

// Certificate states, as /ready and /config name them.
const (
	CertNone     = "NONE"     // no certificate yet
	CertValid    = "VALID"    // renewed in time, or not yet due
	CertExpiring = "EXPIRING" // less than identity.warnBefore left: renewal is failing
	CertExpired  = "EXPIRED"  // past NotAfter: every new mTLS handshake fails
)

// certStatus is what an operator needs while the control plane is away:
// whether the certificate will outlive the outage. Traffic keeps flowing
// on the current certificate until it expires; after that, every new mTLS
// handshake fails (fail closed: a peer refuses an expired leaf), until a
// renewal succeeds. Connections opened before expiry carry on until they
// close, as in Envoy: a certificate is checked at the handshake.
type certStatus struct {
	svid *mtls.Source
	now  func() time.Time
	// warnBefore is identity.warnBefore; 0 means a quarter of the
	// lifetime.
	warnBefore time.Duration

	got      atomic.Int64 // unix nanos the current certificate arrived
	failures atomic.Uint64

	mu      sync.Mutex
	lastErr string // the last failed attempt's error, "" after a success
}

func newCertStatus(svid *mtls.Source, warnBefore time.Duration) *certStatus {
	return &certStatus{svid: svid, now: time.Now, warnBefore: warnBefore}
}

func (c *certStatus) issued(at time.Time) {
	c.got.Store(at.UnixNano())
	c.mu.Lock()
	c.lastErr = ""
	c.mu.Unlock()
}

func (c *certStatus) failed(err error) {
	c.failures.Add(1)
	c.mu.Lock()
	c.lastErr = err.Error()
	c.mu.Unlock()
}

// CertDump is the certificate part of /config.
type CertDump struct {
	State    string    `json:"state"` // NONE, VALID, EXPIRING or EXPIRED
	SPIFFEID string    `json:"spiffeId,omitempty"`
	NotAfter time.Time `json:"notAfter,omitzero"`
	// Left is the time left before expiry ("0s" once expired).
	Left string `json:"left,omitempty"`
	// WarnBefore is when EXPIRING starts, before NotAfter.
	WarnBefore string `json:"warnBefore,omitempty"`
	// RenewalFailures counts failed certificate requests since start.
	RenewalFailures uint64 `json:"renewalFailures"`
	// LastError is the last failed request's error, until one succeeds.
	LastError string `json:"lastError,omitempty"`
}

// warnWindow is how long before expiry EXPIRING starts for cur: the
// configured identity.warnBefore, else a quarter of the lifetime as this
// sidecar has it (from arrival, not the CA's backdated NotBefore).
func (c *certStatus) warnWindow(cur *mtls.SVID) time.Duration {
	if c.warnBefore > 0 {
		return c.warnBefore
	}
	from := cur.Certificate.Leaf.NotBefore
	if got := time.Unix(0, c.got.Load()); got.After(from) {
		from = got
	}
	return cur.NotAfter().Sub(from) / 4
}

func (c *certStatus) dump() CertDump {
	c.mu.Lock()
	d := CertDump{State: CertNone, RenewalFailures: c.failures.Load(), LastError: c.lastErr}
	c.mu.Unlock()
	cur := c.svid.Current()
	if cur == nil {
		return d
	}
	left := max(cur.NotAfter().Sub(c.now()), 0)
	warn := c.warnWindow(cur)
	d.SPIFFEID, d.NotAfter = cur.ID, cur.NotAfter()
	d.Left, d.WarnBefore = left.Round(time.Second).String(), warn.Round(time.Second).String()
	switch {
	case left <= 0:
		d.State = CertExpired
	case left < warn:
		d.State = CertExpiring
	default:
		d.State = CertValid
	}
	return d
}

// state is dump's State alone.
func (c *certStatus) state() string { return c.dump().State }

// metrics are the gauges an alert can use as they are, with no PromQL
// arithmetic: expiring (1 from warnBefore until renewed), expired (1 while
// mTLS handshakes fail) and the count of failed renewals.
func (c *certStatus) metrics() []prometheus.Collector {
	flag := func(states ...string) func() float64 {
		return func() float64 {
			st := c.state()
			for _, s := range states {
				if st == s {
					return 1
				}
			}
			return 0
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weft_sidecar_cert_expiring",
			Help: "1 when this sidecar's workload certificate has less than identity.warnBefore left (default a quarter of its lifetime) or has expired: renewal is failing, and mTLS stops at expiry.",
		}, flag(CertExpiring, CertExpired)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weft_sidecar_cert_expired",
			Help: "1 when this sidecar's workload certificate has expired: every new mTLS handshake to or from it fails until a renewal succeeds.",
		}, flag(CertExpired)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "weft_sidecar_cert_renewal_failures_total",
			Help: "Failed workload certificate requests (renewals and join-token enrolments), each retried with backoff.",
		}, func() float64 { return float64(c.failures.Load()) }),
	}
}

// logFailure logs a failed certificate request with the time left on the
// current certificate, as a warning an operator can act on in time.
func (c *certClient) logFailure(cur *mtls.SVID, renewal bool, retryIn time.Duration, err error) {
	if cur == nil {
		c.log.Warn("certificate request failed; retrying", "renewal", renewal, "retryIn", retryIn, "err", err)
		return
	}
	d := c.status.dump()
	switch d.State {
	case CertExpired:
		c.log.Error("certificate expired and not renewed: mTLS handshakes fail until the control plane issues a new one",
			"spiffeId", cur.ID, "notAfter", cur.NotAfter(), "retryIn", retryIn, "err", err)
	case CertExpiring:
		c.log.Warn("certificate expires soon and cannot be renewed: mTLS traffic stops at expiry",
			"spiffeId", cur.ID, "timeLeft", d.Left, "notAfter", cur.NotAfter(), "retryIn", retryIn, "err", err)
	default:
		c.log.Warn("certificate renewal failed; retrying", "timeLeft", d.Left, "retryIn", retryIn, "err", err)
	}
}

// maxBackoff caps the wait between failed certificate requests at 30 s,
// or at an eighth of the last certificate's life (0: none yet), so that a
// short-lived certificate is renewed, or re-issued after expiry, soon
// after the control plane returns.
func maxBackoff(life time.Duration) time.Duration {
	const most = 30 * time.Second
	if life <= 0 {
		return most
	}
	return min(most, max(time.Second, life/8))
}

// readyCert answers /ready once the sidecar serves. An EXPIRING
// certificate leaves it ready (traffic still flows; failing readiness
// would turn a warning into an outage) but says so in the body; an EXPIRED
// one makes it not ready, since no new mTLS connection can succeed.
func (s *Sidecar) readyCert(w http.ResponseWriter) {
	if s.certs == nil {
		w.Write([]byte("ready\n"))
		return
	}
	d := s.certs.dump()
	switch d.State {
	case CertExpired:
		http.Error(w, fmt.Sprintf("certificate EXPIRED at %s: mTLS handshakes fail until it is renewed (last error: %s)",
			d.NotAfter.Format(time.RFC3339), d.LastError), http.StatusServiceUnavailable)
	case CertNone:
		// Not before the first certificate: an mTLS port cannot serve a
		// mesh caller, nor can this sidecar call a STRICT one.
		http.Error(w, "waiting for the first workload certificate (identity configured)", http.StatusServiceUnavailable)
	case CertExpiring:
		fmt.Fprintf(w, "ready; certificate EXPIRING in %s and not renewed (last error: %s)\n", d.Left, d.LastError)
	default:
		w.Write([]byte("ready\n"))
	}
}

// certUsable reports whether this sidecar holds an unexpired certificate
// (an mTLS instance registers as ready only then).
func (s *Sidecar) certUsable() bool {
	if s.certs == nil {
		return s.svid.Current() != nil
	}
	st := s.certs.state()
	return st == CertValid || st == CertExpiring
}
