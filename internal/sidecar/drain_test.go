package sidecar

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestDrainDelayDefaultsAndBounds(t *testing.T) {
	var reg Config
	reg.Register = &Registration{}
	reg.SetDefaults()
	if reg.Limits.DrainDelay != 3*time.Second {
		t.Errorf("a registering sidecar's drainDelay = %v, want 3s", reg.Limits.DrainDelay)
	}
	var plain Config
	plain.SetDefaults()
	if plain.Limits.DrainDelay != 0 {
		t.Errorf("a sidecar that registers nothing has no one to wait for; drainDelay = %v", plain.Limits.DrainDelay)
	}
	base, err := os.ReadFile("testdata/frontend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"-1s", "6m"} {
		src := strings.Replace(string(base), "headerTimeout: 5s", "headerTimeout: 5s\n  drainDelay: "+bad, 1)
		if _, err := Parse([]byte(src)); err == nil || !strings.Contains(err.Error(), "limits.drainDelay: must be 0..5m") {
			t.Errorf("drainDelay %s: error = %v", bad, err)
		}
	}
	src := strings.Replace(string(base), "headerTimeout: 5s", "headerTimeout: 5s\n  drainDelay: 500ms", 1)
	cfg, err := Parse([]byte(src))
	if err != nil || cfg.Limits.DrainDelay != 500*time.Millisecond {
		t.Fatalf("drainDelay 500ms: %v %v", cfg, err)
	}
}
