package cli

import (
	"bytes"
	"strings"
	"testing"

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
	}, "")
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
