package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/api"
)

// A disconnected instance is shown as not ready, and why; so is one whose
// probe fails.
func TestPrintInstancesShowsWhyNotReady(t *testing.T) {
	var b bytes.Buffer
	err := printInstances(&b, []api.Instance{
		{Service: "catalog", ID: "a", Address: "10.0.0.1", Port: 80, Ready: true},
		{Service: "catalog", ID: "b", Address: "10.0.0.2", Port: 80, Ready: true, Disconnected: true},
		{Service: "catalog", ID: "c", Address: "10.0.0.3", Port: 80},
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, want := range []string{" true ", " false ", " false "} {
		if !strings.Contains(lines[i+1], want) {
			t.Errorf("row %d lacks %q: %s", i+1, want, lines[i+1])
		}
	}
	if !strings.Contains(lines[2], "disconnected") || !strings.Contains(lines[3], "probe") {
		t.Errorf("notes missing:\n%s", b.String())
	}
}

// The CERT column: time left and state per instance, from the stats'
// certificate rows; "-" for an instance whose sidecar was not scraped.
func TestPrintInstancesCertColumn(t *testing.T) {
	certs := map[string]api.CertificateStatus{
		"catalog/a": {Service: "catalog", Instance: "a", State: api.CertValid, SecondsLeft: 11*3600 + 58*60 + 7},
		"catalog/b": {Service: "catalog", Instance: "b", State: api.CertExpiring, SecondsLeft: 9*60 + 12},
		"catalog/c": {Service: "catalog", Instance: "c", State: api.CertExpired},
		"catalog/d": {Service: "catalog", Instance: "d", State: api.CertNone},
	}
	var ins []api.Instance
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		ins = append(ins, api.Instance{Service: "catalog", ID: id, Address: "10.0.0.1", Port: 80, Ready: true})
	}
	var b bytes.Buffer
	if err := printInstances(&b, ins, certs, ""); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 6 || !strings.Contains(lines[0], "CERT") {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, want := range []string{"11h58m VALID", "9m12s EXPIRING", " EXPIRED", " none", " - "} {
		if !strings.Contains(lines[i+1]+" ", want) {
			t.Errorf("row %d lacks %q: %s", i+1, want, lines[i+1])
		}
	}
}

func TestTimeLeft(t *testing.T) {
	for d, want := range map[time.Duration]string{
		50*time.Hour + 10*time.Minute: "2d2h", 11*time.Hour + 58*time.Minute + 59*time.Second: "11h58m",
		9*time.Minute + 12*time.Second: "9m12s", 40*time.Second + 900*time.Millisecond: "40s", 0: "0s",
	} {
		if got := timeLeft(d); got != want {
			t.Errorf("timeLeft(%v) = %q, want %q", d, got, want)
		}
	}
}
