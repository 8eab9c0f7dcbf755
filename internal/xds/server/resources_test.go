package server

import (
	"testing"
)

func TestMarshalFromKeepsUnchangedTypes(t *testing.T) {
	v1, err := Marshal("1", snapshot("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		clusters []string
		want     [numTypes]string // CDS, EDS, LDS, RDS, SDS
	}{
		"nothing changed":   {[]string{"a", "b"}, [numTypes]string{"1", "1", "1", "1", "1"}},
		"a cluster removed": {[]string{"a"}, [numTypes]string{"2", "2", "1", "1", "1"}},
		"a cluster added":   {[]string{"a", "b", "c"}, [numTypes]string{"2", "2", "1", "1", "1"}},
	} {
		t.Run(name, func(t *testing.T) {
			v2, err := MarshalFrom(v1, "2", snapshot(tc.clusters...))
			if err != nil {
				t.Fatal(err)
			}
			for typ := range numTypes {
				if got := v2.TypeVersion(typeURLs[typ]); got != tc.want[typ] {
					t.Errorf("%s version %s, want %s", shortTypes[typ], got, tc.want[typ])
				}
				// An unchanged type is the same shared set, bytes and all.
				if same := v2.types[typ] == v1.types[typ]; same != (tc.want[typ] == "1") {
					t.Errorf("%s shared with the previous config: %v", shortTypes[typ], same)
				}
			}
			if v2.types[cds].byName["a"] != v1.types[cds].byName["a"] {
				t.Error("an unchanged cluster was marshalled into a second copy")
			}
		})
	}
}
