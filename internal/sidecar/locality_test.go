package sidecar

import (
	"strings"
	"testing"
)

func TestLocalityDefaultsAndValidation(t *testing.T) {
	c := Config{Service: "a", Locality: Locality{Region: "eu", Zone: "eu-a"}, Register: &Registration{Labels: map[string]string{"version": "v1"}}}
	c.SetDefaults()
	if c.Register.Zone != "eu-a" || c.Register.Labels[LabelRegion] != "eu" || c.Register.Labels["version"] != "v1" {
		t.Fatalf("registration %+v: want the sidecar's zone and region", c.Register)
	}
	c = Config{Service: "a", Register: &Registration{Labels: map[string]string{LabelZone: "z1", LabelRegion: "r1"}}}
	c.SetDefaults()
	if c.Locality != (Locality{Region: "r1", Zone: "z1"}) || c.Register.Zone != "z1" {
		t.Fatalf("locality %+v zone %q: want them from the topology labels", c.Locality, c.Register.Zone)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Locality: Locality{Zone: "a b"}}, "locality.zone: must be printable with no spaces"},
		{Config{Locality: Locality{Region: strings.Repeat("r", 129)}}, "locality.region: at most 128 characters"},
		{Config{Locality: Locality{Zone: "a"}, Register: &Registration{Zone: "b"}}, `register.zone: must match locality.zone "a"`},
	} {
		var fe fieldErrors
		validateLocality(&fe, &tc.cfg)
		if len(fe) != 1 || !strings.Contains(fe[0].Error(), tc.want) {
			t.Errorf("%+v: errors %v, want %q", tc.cfg.Locality, fe, tc.want)
		}
	}
}
