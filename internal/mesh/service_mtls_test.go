package mesh

import (
	"fmt"
	"strings"
	"testing"
)

// spec.mtls.mode takes STRICT or PERMISSIVE only, and a Service outside
// the mesh (dns) has no sidecar to set it on; errors name the field.
func TestServiceMTLSValidation(t *testing.T) {
	const svc = `{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"catalog"},"spec":{"ports":[{"port":80}]%s}}`
	for _, ok := range []string{`,"mtls":{"mode":"STRICT"}`, `,"mtls":{"mode":"PERMISSIVE"}`, ``} {
		if _, err := Decode([]byte(fmt.Sprintf(svc, ok))); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		`,"mtls":{"mode":"permissive"}`:                   `Service/default/catalog: spec.mtls.mode: must be STRICT or PERMISSIVE; got "permissive"`,
		`,"mtls":{}`:                                      `spec.mtls.mode: must be STRICT or PERMISSIVE; got ""`,
		`,"mtls":{"mode":"DISABLE"}`:                      `spec.mtls.mode: must be STRICT or PERMISSIVE; got "DISABLE"`,
		`,"dns":"a.example.com","mtls":{"mode":"STRICT"}`: `spec.mtls: a service outside the mesh (dns) has no sidecars`,
	} {
		_, err := Decode([]byte(fmt.Sprintf(svc, in)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", in, err, want)
		}
	}
}
