package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/xds/translate"
	"github.com/weft-mesh/weft/internal/xds/xdstest"
)

// authzMesh exercises every AuthorizationPolicy field translate maps.
const authzMesh = `[
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "catalog"}, "spec": {"ports": [{"port": 80}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "payments"}, "spec": {"ports": [{"port": 80}], "mtls": {"mode": "PERMISSIVE"}}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "ledger"}, "spec": {"ports": [{"port": 80}], "mtls": {"mode": "STRICT"}}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "AuthorizationPolicy", "metadata": {"name": "deny-admin"},
  "spec": {"targetRef": {"name": "catalog"}, "action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin", "/admin/*"]}}]}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "AuthorizationPolicy", "metadata": {"name": "allow-web"},
  "spec": {"targetRef": {"name": "catalog"}, "rules": [
   {"from": [{"source": {"principals": ["spiffe://weft.local/ns/default/sa/web", "weft.local/ns/ops/*", "*/sa/batch", "*"]}},
             {"source": {"namespaces": ["shop", "ops"]}}],
    "to": [{"operation": {"hosts": ["catalog", "*.shop"], "methods": ["GET", "POST"], "paths": ["*", "*.json"], "ports": [8080]}}],
    "when": [{"key": "request.headers[x-tenant]", "values": ["a", "b*", "*c", "*"]}]},
   {}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "AuthorizationPolicy", "metadata": {"name": "default-deny"}, "spec": {}}
]`

// The sidecar's decoder must make of each inbound listener exactly what
// xdstest's oracle makes of it, and the result must compile.
func TestDecodeInboundMatchesOracle(t *testing.T) {
	rs, err := mesh.Decode([]byte(authzMesh))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := translate.Translate(translate.Input{Resources: rs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, l := range snap.Listeners {
		if !strings.HasPrefix(l.Name, translate.InboundListenerPrefix) {
			continue
		}
		seen++
		want, err := xdstest.AuthzFromListener(l)
		if err != nil {
			t.Fatal(err)
		}
		wantMode, err := xdstest.InboundMTLSFromListener(l)
		if err != nil {
			t.Fatal(err)
		}
		name, in, err := decodeListener(marshal(t, l))
		if err != nil {
			t.Fatalf("%s: %v", l.Name, err)
		}
		got := in.authz
		if in.mtls != wantMode {
			t.Errorf("%s: mtls %q, the oracle's %q", l.Name, in.mtls, wantMode)
		}
		if want := map[string]string{"inbound/catalog.default": "", "inbound/payments.default": MTLSPermissive, "inbound/ledger.default": MTLSStrict}[l.Name]; in.mtls != want {
			t.Errorf("%s: mtls %q, want %q", l.Name, in.mtls, want)
		}
		if name != l.Name {
			t.Errorf("name %q, want %q", name, l.Name)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s differs from the oracle (-want +got):\n%s", l.Name, d)
		}
		if _, err := authz.Compile(got); err != nil {
			t.Errorf("%s: %v", l.Name, err)
		}
		switch l.Name {
		case "inbound/catalog.default":
			if len(got.Filters) != 2 || got.Filters[0].Action != authz.Deny || got.Filters[1].Action != authz.Allow || len(got.Filters[1].Policies) != 2 {
				t.Errorf("catalog: want a DENY filter then an ALLOW filter of 2 policies; got %+v", got.Filters)
			}
		case "inbound/payments.default":
			// Only the mesh-wide default deny: an ALLOW filter with no policy.
			if len(got.Filters) != 1 || got.Filters[0].Action != authz.Allow || len(got.Filters[0].Policies) != 0 {
				t.Errorf("payments: want one empty ALLOW filter; got %+v", got.Filters)
			}
		}
	}
	if seen != 3 {
		t.Fatalf("%d inbound listeners, want 3", seen)
	}
}

// What the proxy cannot honour is NACKed, naming the field.
func TestDecodeInboundRefuses(t *testing.T) {
	rs, err := mesh.Decode([]byte(authzMesh))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := translate.Translate(translate.Input{Resources: rs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := snap.Listeners[1]
	l.FilterChains = append(l.FilterChains, l.FilterChains[0])
	if _, _, err := decodeInbound(marshal(t, l)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("two filter chains: err = %v, want ErrUnsupported", err)
	}
	if _, _, err := decodeInbound([]byte{0xff}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: err = %v, want ErrMalformed", err)
	}
}

// FuzzDecodeInbound: no input panics, and whatever decodes compiles or is
// refused by Compile with an error, never a panic.
func FuzzDecodeInbound(f *testing.F) {
	rs, err := mesh.Decode([]byte(authzMesh))
	if err != nil {
		f.Fatal(err)
	}
	snap, err := translate.Translate(translate.Input{Resources: rs}, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range snap.Listeners {
		f.Add(marshal(f, l))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, cfg, err := decodeInbound(b)
		if err == nil {
			authz.Compile(cfg)
		}
	})
}
