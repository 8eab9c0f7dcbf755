package mesh

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const example = `{"kind": "List", "items": [
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service",
  "metadata": {"name": "catalog"},
  "spec": {"ports": [{"name": "http", "port": 80}],
           "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute",
  "metadata": {"name": "catalog-split"},
  "spec": {"parentRefs": [{"name": "catalog"}],
           "rules": [
             {"matches": [{"headers": [{"name": "x-canary", "value": "always"}]}],
              "backendRefs": [{"name": "catalog", "subset": "v2"}]},
             {"backendRefs": [{"name": "catalog", "subset": "v1", "weight": 90}, {"name": "catalog", "subset": "v2", "weight": 10}],
              "timeouts": {"request": "5s"}}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "TrafficPolicy",
  "metadata": {"name": "catalog"},
  "spec": {"targetRef": {"name": "catalog"}, "loadBalancer": {"type": "RING_HASH", "hashOn": {"header": "x-user"}},
           "connectionPool": {"maxConnections": 100, "connectTimeout": "1s"}}}
]}`

func TestDecodeExample(t *testing.T) {
	rs, err := Decode([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("%d resources", len(rs))
	}
	rt := rs[1].(*HTTPRoute)
	if rt.Metadata.Namespace != "default" || rt.Spec.ParentRefs[0].Kind != "Service" {
		t.Fatalf("defaults not applied: %+v", rt.Spec.ParentRefs)
	}
	m := rt.Spec.Rules[1].Matches[0]
	if m.Path.Type != "PathPrefix" || m.Path.Value != "/" || *rt.Spec.Rules[0].BackendRefs[0].Weight != 1 {
		t.Fatalf("gateway defaults not applied: %+v", m)
	}
	if Key(rs[0]) != "Service/default/catalog" {
		t.Fatalf("key %s", Key(rs[0]))
	}
	if p := CheckReferences(rs); len(p) != 0 {
		t.Fatalf("problems %v", p)
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"negative weight", `{"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"a"}],"rules":[{"backendRefs":[{"name":"a"},{"name":"b","weight":-1}]}]}}`,
			"spec.rules[0].backendRefs[1].weight: must be >= 0"},
		{"unknown field", `{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}],"colour":"red"}}`,
			`Service/default/a: spec.colour: unknown field`},
		{"bad version", `{"apiVersion":"v9","kind":"Service","metadata":{"name":"a"}}`, "apiVersion: must be weft.dev/v1alpha1"},
		{"bad kind", `{"apiVersion":"weft.dev/v1alpha1","kind":"Gateway","metadata":{"name":"a"}}`, "kind: must be Service, HTTPRoute, TrafficPolicy or AuthorizationPolicy"},
		{"bad name", `{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"Bad_Name"},"spec":{"ports":[{"port":80}]}}`, "metadata.name: must be a DNS-1123 label"},
		{"bad port", `{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":70000}]}}`, "spec.ports[0].port: must be 1..65535"},
		{"bad regex", `{"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"a"}],"rules":[{"matches":[{"path":{"type":"RegularExpression","value":"(a"}}],"backendRefs":[{"name":"a"}]}]}}`,
			"spec.rules[0].matches[0].path.value: invalid regex"},
		{"bad timeout", `{"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"a"}],"rules":[{"backendRefs":[{"name":"a"}],"timeouts":{"request":"soon"}}]}}`,
			"spec.rules[0].timeouts.request: must be a duration"},
		{"ring hash without key", `{"apiVersion":"weft.dev/v1alpha1","kind":"TrafficPolicy","metadata":{"name":"p"},"spec":{"targetRef":{"name":"a"},"loadBalancer":{"type":"RING_HASH"}}}`,
			"spec.loadBalancer.hashOn: RING_HASH needs exactly one of header or cookie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckReferences(t *testing.T) {
	rs, err := Decode([]byte(`[
 {"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}],"subsets":[{"name":"v1","labels":{"v":"1"}}]}},
 {"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r1"},"spec":{"parentRefs":[{"name":"a"}],"rules":[{"matches":[{"path":{"value":"/x"}}],"backendRefs":[{"name":"a","subset":"v2"},{"name":"ghost"}]}]}},
 {"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r2"},"spec":{"parentRefs":[{"name":"a"}],"rules":[{"matches":[{"path":{"value":"/x"}}],"backendRefs":[{"name":"a"}]}]}},
 {"apiVersion":"weft.dev/v1alpha1","kind":"TrafficPolicy","metadata":{"name":"p"},"spec":{"targetRef":{"name":"nope"}}}
]`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range CheckReferences(rs) {
		got = append(got, p.String())
	}
	want := []string{
		`HTTPRoute/default/r1: spec.rules[0].backendRefs[0].subset: Service "a" has no subset "v2"`,
		`HTTPRoute/default/r1: spec.rules[0].backendRefs[1].name: unknown Service "ghost"`,
		`HTTPRoute/default/r2: spec.rules[0]: conflicts with HTTPRoute/default/r1: same parent, hostname and match`,
		`TrafficPolicy/default/p: spec.targetRef.name: unknown Service "nope"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(`{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":1}]}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"a"}],"rules":[{"filters":[` +
		`{"type":"Fault","fault":{"delay":{"fixedDelay":"2s","percent":10},"abort":{"grpcStatus":14}}},{"type":"RateLimit","rateLimit":{"requestsPerSecond":100}}],"backendRefs":[{"name":"a"}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Decode(data)
		if err != nil || len(rs) == 0 {
			return
		}
		// What we accept re-encodes and decodes to the same resources.
		b, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", b, err)
		}
		b2, _ := json.Marshal(again)
		if string(b2) != string(b) {
			t.Fatalf("round trip changed resources:\n%s\n%s", b, b2)
		}
		CheckReferences(rs)
	})
}
