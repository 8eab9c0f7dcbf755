package mesh

import (
	"fmt"
	"strings"
	"testing"
)

// Fields Weft does not enforce yet are refused, naming the field, rather
// than stored and reported Programmed while nothing reads them.
func TestUnsupportedFieldsRefused(t *testing.T) {
	const policy = `{"apiVersion":"weft.dev/v1alpha1","kind":"TrafficPolicy","metadata":{"name":"catalog"},"spec":{"targetRef":{"name":"catalog"},%s}}`
	const route = `{"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"a"%s}],"rules":[{%s"backendRefs":[{"name":"a"%s}]}]}}`
	tests := []struct{ name, in, want string }{
		{"retry condition", fmt.Sprintf(policy, `"retries":{"attempts":3,"retryOn":["5xx","sometimes"]}`), `TrafficPolicy/default/catalog: spec.retries.retryOn[1]: must be one of`},
		{"retry attempts", fmt.Sprintf(policy, `"retries":{"attempts":11}`), `TrafficPolicy/default/catalog: spec.retries.attempts: must be 0..10; got 11`},
		{"retry budget", fmt.Sprintf(policy, `"retries":{"budgetPercent":101}`), `TrafficPolicy/default/catalog: spec.retries.budgetPercent: must be 1..100`},
		{"retry backoff", fmt.Sprintf(policy, `"retries":{"backoff":"100ms","maxBackoff":"50ms"}`), `TrafficPolicy/default/catalog: spec.retries.maxBackoff: must be at least backoff`},
		{"route retry codes", fmt.Sprintf(route, "", `"retry":{"codes":[200]},`, ""), `HTTPRoute/default/r: spec.rules[0].retry.codes[0]: must be an HTTP status 400..599; got 200`},
		{"filter", fmt.Sprintf(route, "", `"filters":[{"type":"CORS","cors":{}}],`, ""),
			`HTTPRoute/default/r: spec.rules[0].filters[0]: not supported yet (filter "CORS" is not implemented)`},
		{"backend request timeout", fmt.Sprintf(route, "", `"timeouts":{"request":"1s","backendRequest":"2s"},`, ""), "HTTPRoute/default/r: spec.rules[0].timeouts.backendRequest: must not exceed timeouts.request"},
		{"parent port", fmt.Sprintf(route, `,"port":80`, "", ""), "HTTPRoute/default/r: spec.parentRefs[0].port: not supported yet"},
		{"backend port", fmt.Sprintf(route, "", "", `,"port":80`), "HTTPRoute/default/r: spec.rules[0].backendRefs[0].port: not supported yet"},
		{"backend group", fmt.Sprintf(route, "", "", `,"group":"example.com"`), `HTTPRoute/default/r: spec.rules[0].backendRefs[0].group: must be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
}

// One document with several mistakes gets every one of them, each with
// the resource and the field path, in the manifest's words.
func TestDecodeReportsEveryProblem(t *testing.T) {
	in := `{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"catalog"},
	  "spec":{"ports":[{"port":"eighty","protocl":"http"},{"port":8080.5}],"subsets":{"name":"v1"},"dns":7}}`
	_, err := Decode([]byte(in))
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`Service/default/catalog: spec.dns: must be a string; got number 7`,
		`Service/default/catalog: spec.ports[0].port: must be an integer; got string "eighty"`,
		`Service/default/catalog: spec.ports[0].protocl: unknown field (did you mean "protocol"?)`,
		`Service/default/catalog: spec.ports[1].port: must be an integer; got number 8080.5`,
		`Service/default/catalog: spec.subsets: must be a list; got an object`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, word := range []string{"json", "int32", "Go "} {
		if strings.Contains(err.Error(), word) {
			t.Errorf("error speaks of %q, which the user never wrote", word)
		}
	}
}
