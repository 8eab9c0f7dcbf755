package mesh

import (
	"fmt"
	"strings"
	"testing"
)

const urlRoute = `{"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"a"}],"rules":[{%s"filters":[%s]%s}]}}`

func TestURLFiltersDecodeWithDefaults(t *testing.T) {
	rs, err := Decode([]byte(fmt.Sprintf(urlRoute, `"matches":[{"path":{"value":"/foo"}}],`,
		`{"type":"URLRewrite","urlRewrite":{"hostname":"b.example","path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/bar"}}},
		 {"type":"RequestMirror","requestMirror":{"backendRef":{"name":"shadow"},"fraction":{"numerator":1}}}`,
		`,"backendRefs":[{"name":"a"}]`)))
	if err != nil {
		t.Fatal(err)
	}
	f := rs[0].(*HTTPRoute).Spec.Rules[0].Filters
	if f[0].URLRewrite.Hostname != "b.example" || *f[0].URLRewrite.Path.ReplacePrefixMatch != "/bar" {
		t.Errorf("rewrite = %+v", f[0].URLRewrite)
	}
	m := f[1].RequestMirror
	if m.BackendRef.Kind != KindService || *m.Fraction.Denominator != 100 || m.Percent != nil {
		t.Errorf("mirror = %+v", m)
	}
	rs, err = Decode([]byte(fmt.Sprintf(urlRoute, "", `{"type":"RequestRedirect","requestRedirect":{"scheme":"https"}}`, "")))
	if err != nil {
		t.Fatal(err)
	}
	if r := rs[0].(*HTTPRoute).Spec.Rules[0].Filters[0].RequestRedirect; *r.StatusCode != 302 {
		t.Errorf("redirect status default = %d, want 302", *r.StatusCode)
	}
}

func TestURLFiltersRefused(t *testing.T) {
	backends := `,"backendRefs":[{"name":"a"}]`
	for _, tt := range []struct{ name, matches, filters, backends, want string }{
		{"rewrite empty", "", `{"type":"URLRewrite","urlRewrite":{}}`, backends, "filters[0].urlRewrite: a URLRewrite filter needs hostname, path or both"},
		{"rewrite host wildcard", "", `{"type":"URLRewrite","urlRewrite":{"hostname":"*.x"}}`, backends, "filters[0].urlRewrite.hostname: must be a DNS name without wildcard or port"},
		{"rewrite host port", "", `{"type":"URLRewrite","urlRewrite":{"hostname":"x:80"}}`, backends, "filters[0].urlRewrite.hostname: must be a DNS name"},
		{"path type", "", `{"type":"URLRewrite","urlRewrite":{"path":{"type":"Replace"}}}`, backends, "filters[0].urlRewrite.path.type: must be ReplaceFullPath or ReplacePrefixMatch"},
		{"full missing", "", `{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplaceFullPath"}}}`, backends, "filters[0].urlRewrite.path.replaceFullPath: is required with type ReplaceFullPath"},
		{"full relative", "", `{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplaceFullPath","replaceFullPath":"x"}}}`, backends, "filters[0].urlRewrite.path.replaceFullPath: must start with /"},
		{"full query", "", `{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplaceFullPath","replaceFullPath":"/x?a=1"}}}`, backends, "filters[0].urlRewrite.path.replaceFullPath: must be a path"},
		{"wrong field", "", `{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplaceFullPath","replaceFullPath":"/x","replacePrefixMatch":"/y"}}}`, backends, "filters[0].urlRewrite.path.replacePrefixMatch: only with type ReplacePrefixMatch"},
		{"prefix needs prefix match", `"matches":[{"path":{"type":"Exact","value":"/a"}}],`, `{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/y"}}}`, backends, "filters[0].urlRewrite.path: ReplacePrefixMatch needs PathPrefix matches; matches[0] is Exact"},
		{"rewrite and redirect", "", `{"type":"URLRewrite","urlRewrite":{"hostname":"x"}},{"type":"RequestRedirect","requestRedirect":{}}`, "", "spec.rules[0].filters: a rule takes a URLRewrite or a RequestRedirect filter, not both"},
		{"redirect with backends", "", `{"type":"RequestRedirect","requestRedirect":{}}`, backends, "spec.rules[0].backendRefs: must be empty in a rule with a RequestRedirect filter"},
		{"redirect scheme", "", `{"type":"RequestRedirect","requestRedirect":{"scheme":"ftp"}}`, "", `filters[0].requestRedirect.scheme: must be http or https; got "ftp"`},
		{"redirect status", "", `{"type":"RequestRedirect","requestRedirect":{"statusCode":304}}`, "", "filters[0].requestRedirect.statusCode: must be 301, 302, 303, 307 or 308; got 304"},
		{"redirect port", "", `{"type":"RequestRedirect","requestRedirect":{"port":70000}}`, "", "filters[0].requestRedirect.port: must be 1..65535; got 70000"},
		{"redirect missing", "", `{"type":"RequestRedirect"}`, "", "filters[0].requestRedirect: a RequestRedirect filter needs requestRedirect"},
		{"mirror name", "", `{"type":"RequestMirror","requestMirror":{"backendRef":{}}}`, backends, `filters[0].requestMirror.backendRef.name: must be a DNS-1123 label; got ""`},
		{"mirror kind", "", `{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"s","kind":"Pod"}}}`, backends, `filters[0].requestMirror.backendRef.kind: must be Service; got "Pod"`},
		{"mirror port", "", `{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"s","port":80}}}`, backends, "filters[0].requestMirror.backendRef.port: not supported yet"},
		{"mirror both", "", `{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"s"},"percent":5,"fraction":{"numerator":1}}}`, backends, "filters[0].requestMirror: set at most one of percent and fraction"},
		{"mirror percent", "", `{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"s"},"percent":101}}`, backends, "filters[0].requestMirror.percent: must be 0..100; got 101"},
		{"mirror fraction", "", `{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"s"},"fraction":{"numerator":3,"denominator":2}}}`, backends, "filters[0].requestMirror.fraction.numerator: must be 0..denominator (2); got 3"},
		{"mirror denominator", "", `{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"s"},"fraction":{"numerator":0,"denominator":0}}}`, backends, "filters[0].requestMirror.fraction.denominator: must be at least 1; got 0"},
		{"mirror twice", "", `{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"s"}}},{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"t"}}}`, backends, "filters[1].type: at most one RequestMirror filter per rule"},
		{"mirror on wrong type", "", `{"type":"RateLimit","rateLimit":{"requestsPerSecond":1},"requestMirror":{"backendRef":{"name":"s"}}}`, backends, "filters[0].requestMirror: only for type RequestMirror"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(fmt.Sprintf(urlRoute, tt.matches, tt.filters, tt.backends)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
}

func TestMirrorReferenceChecked(t *testing.T) {
	all, err := Decode([]byte(`[{"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}},
` + fmt.Sprintf(urlRoute, "", `{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"ghost"}}}`, `,"backendRefs":[{"name":"a"}]`) + "]"))
	if err != nil {
		t.Fatal(err)
	}
	ps := CheckReferences(all)
	if len(ps) != 1 || ps[0].Path != "spec.rules[0].filters[0].requestMirror.backendRef.name" || ps[0].Cause != "BackendNotFound" {
		t.Fatalf("problems = %+v", ps)
	}
}
