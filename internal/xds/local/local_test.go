package local

import (
	"testing"

	"github.com/weft-mesh/weft/internal/mesh"
)

func services(t *testing.T, doc string) []mesh.Resource {
	t.Helper()
	rs, err := mesh.Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// An unchanged directory re-read (SIGHUP, a touched file) must not
// announce a version that no proxy will ever be pushed, or waiting for it
// would time out; a real change gets the next version.
func TestPublishVersions(t *testing.T) {
	s, err := Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	a := `{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}],"endpoints":[{"address":"127.0.0.1","port":1}]}}`
	b := `{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}],"endpoints":[{"address":"127.0.0.1","port":2}]}}`
	for i, step := range []struct{ doc, want string }{{a, "1"}, {a, "1"}, {b, "2"}, {b, "2"}, {a, "3"}} {
		v, err := s.Publish(services(t, step.doc))
		if err != nil {
			t.Fatal(err)
		}
		if v != step.want || s.Version() != step.want {
			t.Fatalf("step %d: published %s, serving %s; want %s", i, v, s.Version(), step.want)
		}
	}
}
