package mesh

import (
	"fmt"
	"strings"
	"testing"
)

const filterRoute = `{"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"a"}],"rules":[{"filters":[%s],"backendRefs":[{"name":"a"}]}]}}`

func TestFiltersDecodeWithDefaults(t *testing.T) {
	rs, err := Decode([]byte(fmt.Sprintf(filterRoute,
		`{"type":"Fault","fault":{"delay":{"fixedDelay":"2s"},"abort":{"grpcStatus":14,"percent":10}}},
		 {"type":"RateLimit","rateLimit":{"requestsPerSecond":100}}`)))
	if err != nil {
		t.Fatal(err)
	}
	fs := rs[0].(*HTTPRoute).Spec.Rules[0].Filters
	f, rl := fs[0].Fault, fs[1].RateLimit
	if f == nil || *f.Delay.Percent != 100 || f.Delay.FixedDelayDuration().Seconds() != 2 || f.Abort.GRPCStatus != 14 || *f.Abort.Percent != 10 {
		t.Fatalf("fault decoded as %+v", f)
	}
	if rl == nil || rl.RequestsPerSecond != 100 || *rl.Burst != 10 {
		t.Fatalf("rate limit decoded as %+v, want burst defaulting to a tenth", rl)
	}
	policy := `{"apiVersion":"weft.dev/v1alpha1","kind":"TrafficPolicy","metadata":{"name":"a"},"spec":{"targetRef":{"name":"a"},"rateLimit":{"requestsPerSecond":5,"burst":7}}}`
	rs, err = Decode([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	if rl := rs[0].(*TrafficPolicy).Spec.RateLimit; rl.RequestsPerSecond != 5 || *rl.Burst != 7 {
		t.Fatalf("policy rate limit %+v", rl)
	}
}

func TestFiltersRefused(t *testing.T) {
	for _, tt := range []struct{ name, filters, want string }{
		{"no config", `{"type":"Fault"}`, "spec.rules[0].filters[0].fault: a Fault filter needs delay, abort or both"},
		{"no delay", `{"type":"Fault","fault":{"delay":{"percent":5}}}`, "spec.rules[0].filters[0].fault.delay.fixedDelay: is required"},
		{"bad delay", `{"type":"Fault","fault":{"delay":{"fixedDelay":"soon"}}}`, "spec.rules[0].filters[0].fault.delay.fixedDelay: must be a duration"},
		{"percent", `{"type":"Fault","fault":{"abort":{"httpStatus":503,"percent":101}}}`, "spec.rules[0].filters[0].fault.abort.percent: must be 0..100; got 101"},
		{"both statuses", `{"type":"Fault","fault":{"abort":{"httpStatus":503,"grpcStatus":14}}}`, "spec.rules[0].filters[0].fault.abort: set exactly one of httpStatus and grpcStatus"},
		{"status", `{"type":"Fault","fault":{"abort":{"httpStatus":99}}}`, "spec.rules[0].filters[0].fault.abort.httpStatus: must be 200..599; got 99"},
		{"grpc status", `{"type":"Fault","fault":{"abort":{"grpcStatus":17}}}`, "spec.rules[0].filters[0].fault.abort.grpcStatus: must be a gRPC status code 1..16; got 17"},
		{"typo", `{"type":"Fault","fault":{"abort":{"httpstatus":503}}}`, `spec.rules[0].filters[0].fault.abort.httpstatus: unknown field (did you mean "httpStatus"?)`},
		{"wrong config", `{"type":"RateLimit","fault":{"abort":{"httpStatus":503}},"rateLimit":{"requestsPerSecond":1}}`, "spec.rules[0].filters[0].fault: only for type Fault"},
		{"foreign key", `{"type":"RateLimit","rateLimit":{"requestsPerSecond":1},"extensionRef":{}}`, "spec.rules[0].filters[0].extensionRef: unknown field for a filter of type RateLimit"},
		{"header config on wrong type", `{"type":"RateLimit","rateLimit":{"requestsPerSecond":1},"requestHeaderModifier":{"set":[{"name":"a","value":"b"}]}}`, "spec.rules[0].filters[0].requestHeaderModifier: only for type RequestHeaderModifier"},
		{"header empty", `{"type":"RequestHeaderModifier","requestHeaderModifier":{}}`, "spec.rules[0].filters[0].requestHeaderModifier: a header modifier needs set, add or remove"},
		{"header missing", `{"type":"ResponseHeaderModifier"}`, "spec.rules[0].filters[0].responseHeaderModifier: a header modifier needs set, add or remove"},
		{"header crlf", `{"type":"RequestHeaderModifier","requestHeaderModifier":{"set":[{"name":"x-a","value":"v\r\nx-evil: 1"}]}}`, "spec.rules[0].filters[0].requestHeaderModifier.set[0].value: must not contain CR, LF or NUL"},
		{"header nul", `{"type":"ResponseHeaderModifier","responseHeaderModifier":{"add":[{"name":"x-a","value":"v\u0000"}]}}`, "spec.rules[0].filters[0].responseHeaderModifier.add[0].value: must not contain CR, LF or NUL"},
		{"header name", `{"type":"RequestHeaderModifier","requestHeaderModifier":{"add":[{"name":"x a","value":"v"}]}}`, "spec.rules[0].filters[0].requestHeaderModifier.add[0].name: is not a valid header name"},
		{"header pseudo", `{"type":"RequestHeaderModifier","requestHeaderModifier":{"remove":[":path"]}}`, "spec.rules[0].filters[0].requestHeaderModifier.remove[0]: is not a valid header name"},
		{"header host", `{"type":"RequestHeaderModifier","requestHeaderModifier":{"set":[{"name":"Host","value":"x"}]}}`, "spec.rules[0].filters[0].requestHeaderModifier.set[0].name: header Host is set by the proxy"},
		{"header hop", `{"type":"ResponseHeaderModifier","responseHeaderModifier":{"remove":["Transfer-Encoding"]}}`, "spec.rules[0].filters[0].responseHeaderModifier.remove[0]: header Transfer-Encoding is set by the proxy"},
		{"header length", `{"type":"ResponseHeaderModifier","responseHeaderModifier":{"remove":["content-length"]}}`, "spec.rules[0].filters[0].responseHeaderModifier.remove[0]: header content-length is set by the proxy"},
		{"header internal", `{"type":"RequestHeaderModifier","requestHeaderModifier":{"set":[{"name":"X-Weft-Flags","value":"x"}]}}`, "spec.rules[0].filters[0].requestHeaderModifier.set[0].name: x-weft-* headers are internal"},
		{"header identity", `{"type":"RequestHeaderModifier","requestHeaderModifier":{"remove":["X-Mesh-Identity"]}}`, "spec.rules[0].filters[0].requestHeaderModifier.remove[0]: header X-Mesh-Identity is set by the proxy"},
		{"header duplicate", `{"type":"RequestHeaderModifier","requestHeaderModifier":{"set":[{"name":"x-a","value":"1"}],"remove":["X-A"]}}`, "spec.rules[0].filters[0].requestHeaderModifier.remove[0]: header \"X-A\" already named"},
		{"header too many", `{"type":"RequestHeaderModifier","requestHeaderModifier":{"remove":["a1","a2","a3","a4","a5","a6","a7","a8","a9","a10","a11","a12","a13","a14","a15","a16","a17"]}}`, "spec.rules[0].filters[0].requestHeaderModifier.remove: at most 16 headers; got 17"},
		{"header twice", `{"type":"RequestHeaderModifier","requestHeaderModifier":{"remove":["a"]}},{"type":"RequestHeaderModifier","requestHeaderModifier":{"remove":["b"]}}`, "spec.rules[0].filters[1].type: at most one RequestHeaderModifier filter per rule"},
		{"rate", `{"type":"RateLimit","rateLimit":{"requestsPerSecond":0}}`, "spec.rules[0].filters[0].rateLimit.requestsPerSecond: must be 1..1000000; got 0"},
		{"burst", `{"type":"RateLimit","rateLimit":{"requestsPerSecond":5,"burst":0}}`, "spec.rules[0].filters[0].rateLimit.burst: must be 1..1000000; got 0"},
		{"rate type", `{"type":"RateLimit","rateLimit":{"requestsPerSecond":"many"}}`, `spec.rules[0].filters[0].rateLimit.requestsPerSecond: must be an integer; got string "many"`},
		{"twice", `{"type":"RateLimit","rateLimit":{"requestsPerSecond":5}},{"type":"RateLimit","rateLimit":{"requestsPerSecond":5}}`, "spec.rules[0].filters[1].type: at most one RateLimit filter per rule"},
		{"other type", `{"type":"ExtensionRef","extensionRef":{}}`, `spec.rules[0].filters[0]: not supported yet (filter "ExtensionRef" is not implemented)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(fmt.Sprintf(filterRoute, tt.filters)))
			if err == nil || !strings.Contains(err.Error(), "HTTPRoute/default/r: "+tt.want) {
				t.Fatalf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
	policy := `{"apiVersion":"weft.dev/v1alpha1","kind":"TrafficPolicy","metadata":{"name":"a"},"spec":{"targetRef":{"name":"a"},"rateLimit":{"requestsPerSecond":2000000}}}`
	if _, err := Decode([]byte(policy)); err == nil || !strings.Contains(err.Error(), "spec.rateLimit.requestsPerSecond: must be 1..1000000") {
		t.Fatalf("policy: %v", err)
	}
}

func TestHeaderModifiersAccepted(t *testing.T) {
	rs, err := Decode([]byte(fmt.Sprintf(filterRoute,
		`{"type":"RequestHeaderModifier","requestHeaderModifier":{"set":[{"name":"X-Env","value":"prod"}],"add":[{"name":"x-tag","value":""}],"remove":["X-Debug"]}},
		 {"type":"ResponseHeaderModifier","responseHeaderModifier":{"remove":["server"]}}`)))
	if err != nil {
		t.Fatal(err)
	}
	fs := rs[0].(*HTTPRoute).Spec.Rules[0].Filters
	req, resp := fs[0].RequestHeaderModifier, fs[1].ResponseHeaderModifier
	if req == nil || len(req.Set) != 1 || req.Set[0] != (HTTPHeader{"X-Env", "prod"}) || len(req.Add) != 1 || req.Remove[0] != "X-Debug" {
		t.Fatalf("request modifier decoded as %+v", req)
	}
	if resp == nil || len(resp.Remove) != 1 || resp.Remove[0] != "server" {
		t.Fatalf("response modifier decoded as %+v", resp)
	}
}
