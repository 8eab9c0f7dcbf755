package api

import (
	"encoding/json"
	"testing"
	"time"
)

// The certificate rows' JSON is what the dashboard and scripts read: its
// field names and formats are the contract.
func TestCertificateStatusJSON(t *testing.T) {
	st := Stats{Certificates: []CertificateStatus{
		{Service: "catalog", Instance: "c1", Version: "v1", SPIFFEID: "spiffe://weft.local/ns/default/sa/catalog",
			NotAfter: time.Date(2026, 12, 3, 5, 30, 0, 0, time.UTC), SecondsLeft: 43080, State: CertValid,
			RenewalFailures: 2, TrustBundleRoots: 1, Scraped: time.Date(2026, 12, 2, 17, 32, 0, 0, time.UTC)},
		{Service: "legacy", Instance: "l1", State: CertNone, Scraped: time.Date(2026, 12, 2, 17, 32, 0, 0, time.UTC)},
	}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Certificates []map[string]any `json:"certificates"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Certificates) != 2 {
		t.Fatalf("certificates in %s", b)
	}
	want := map[string]any{"service": "catalog", "instance": "c1", "version": "v1", "spiffeId": "spiffe://weft.local/ns/default/sa/catalog",
		"notAfter": "2026-12-03T05:30:00Z", "secondsLeft": 43080.0, "state": "VALID", "renewalFailures": 2.0, "trustBundleRoots": 1.0,
		"scraped": "2026-12-02T17:32:00Z"}
	for k, v := range want {
		if got.Certificates[0][k] != v {
			t.Errorf("%s: %v (%T), want %v", k, got.Certificates[0][k], got.Certificates[0][k], v)
		}
	}
	if len(got.Certificates[0]) != len(want) {
		t.Errorf("fields %v, want exactly %v", got.Certificates[0], want)
	}
	// No certificate: no expiry, no identity; the counts are still there.
	none := got.Certificates[1]
	for _, k := range []string{"notAfter", "spiffeId", "version"} {
		if _, ok := none[k]; ok {
			t.Errorf("a row with no certificate has %s: %v", k, none)
		}
	}
	if none["state"] != "NONE" || none["secondsLeft"] != 0.0 {
		t.Errorf("row with no certificate %v", none)
	}
}
