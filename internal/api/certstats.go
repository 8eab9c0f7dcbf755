package api

import "time"

// Certificate states of CertificateStatus.State, as the sidecar's /ready
// and /config name them.
const (
	CertNone     = "NONE"     // no workload certificate (plaintext, or not issued yet)
	CertValid    = "VALID"    // renewed in time, or not yet due
	CertExpiring = "EXPIRING" // inside the sidecar's warning window: renewal is failing
	CertExpired  = "EXPIRED"  // past NotAfter: every new mTLS handshake to or from it fails
)

// MaxCertificates caps Stats.Certificates; past it the rows kept are the
// most urgent (EXPIRED, then EXPIRING, then the least time left).
const MaxCertificates = 10000

// CertificateStatus is one scraped sidecar's workload certificate, read
// from its own gauges (weft_sidecar_cert_expiry_seconds, _cert_expiring,
// _cert_expired, _cert_renewal_failures_total, _trust_bundle_roots).
type CertificateStatus struct {
	// Service is the registered instance's service.
	Service string `json:"service"`
	// Instance is the registered instance's id.
	Instance string `json:"instance"`
	// Version is the instance's version label ("" when it has none).
	Version string `json:"version,omitempty"`
	// SPIFFEID is the identity the mesh's CA issues to the instance's
	// sidecar (spiffe://TD/ns/default/sa/SERVICE); "" when the instance
	// has no certificate or the control plane cannot tell.
	SPIFFEID string `json:"spiffeId,omitempty"`
	// NotAfter is when the certificate expires (RFC 3339); absent when
	// State is NONE.
	NotAfter time.Time `json:"notAfter,omitzero"`
	// SecondsLeft is the time left before NotAfter when the stats were
	// served, in whole seconds; 0 once expired or with no certificate.
	SecondsLeft int64 `json:"secondsLeft"`
	// State is VALID, EXPIRING, EXPIRED or NONE. EXPIRING is the
	// sidecar's own verdict (its identity.warnBefore, by default the last
	// quarter of the lifetime); EXPIRED is also set here once NotAfter has
	// passed, even if the last scrape said otherwise.
	State string `json:"state"`
	// RenewalFailures counts the sidecar's failed certificate requests
	// since it started (each is retried with backoff).
	RenewalFailures uint64 `json:"renewalFailures"`
	// TrustBundleRoots is how many roots the sidecar trusts: 1, or 2
	// during a root rotation; 0 before it has a certificate.
	TrustBundleRoots int `json:"trustBundleRoots"`
	// Scraped is when these figures were read: a sidecar whose latest
	// scrape failed keeps the figures of its last good one.
	Scraped time.Time `json:"scraped"`
}
