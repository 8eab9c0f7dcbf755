package server_test

import (
	"testing"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/mesh"
)

// api.Kind spells the kinds itself to stay a leaf; they must stay mesh's.
func TestKindMatchesMesh(t *testing.T) {
	for in, want := range map[string]string{"svc": mesh.KindService, "routes": mesh.KindHTTPRoute, "tp": mesh.KindTrafficPolicy} {
		if got, ok := api.Kind(in); !ok || got != want {
			t.Errorf("api.Kind(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := api.Kind("nosuch"); ok {
		t.Error(`api.Kind("nosuch") is a kind`)
	}
}
