package mesh

import (
	"strings"
	"testing"
)

func TestAuthorizationPolicyDefaults(t *testing.T) {
	rs, err := Decode([]byte(`{"apiVersion": "weft.dev/v1alpha1", "kind": "AuthorizationPolicy", "metadata": {"name": "deny-all"}, "spec": {"targetRef": {"name": "catalog"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := rs[0].(*AuthorizationPolicy)
	if p.Spec.Action != ActionAllow || p.Spec.TargetRef.Kind != KindService || p.Metadata.Namespace != "default" {
		t.Fatalf("defaults: %+v", p)
	}
}

// Every invalid field is reported with its path and the reason.
func TestAuthorizationPolicyErrorsNameTheField(t *testing.T) {
	for name, tc := range map[string]struct{ spec, want string }{
		"action":         {`{"action": "AUDIT"}`, "spec.action: must be ALLOW or DENY"},
		"deny no rules":  {`{"action": "DENY"}`, "spec.rules: a DENY policy needs at least one rule"},
		"target kind":    {`{"targetRef": {"kind": "Gateway", "name": "a"}}`, "spec.targetRef.kind: must be Service"},
		"empty source":   {`{"rules": [{"from": [{"source": {}}]}]}`, "spec.rules[0].from[0].source: set principals or namespaces"},
		"principal":      {`{"rules": [{"from": [{"source": {"principals": ["*a*"]}}]}]}`, "spec.rules[0].from[0].source.principals[0]: must be a SPIFFE ID"},
		"scheme":         {`{"rules": [{"from": [{"source": {"principals": ["https://x/y"]}}]}]}`, "spec.rules[0].from[0].source.principals[0]: must use the spiffe:// scheme"},
		"namespace":      {`{"rules": [{"from": [{"source": {"namespaces": ["Shop"]}}]}]}`, "spec.rules[0].from[0].source.namespaces[0]: must be a namespace"},
		"empty op":       {`{"rules": [{"to": [{"operation": {}}]}]}`, "spec.rules[0].to[0].operation: set hosts"},
		"method":         {`{"rules": [{"to": [{"operation": {"methods": ["get"]}}]}]}`, "spec.rules[0].to[0].operation.methods[0]: must be an HTTP method"},
		"host case":      {`{"rules": [{"to": [{"operation": {"hosts": ["Catalog"]}}]}]}`, "spec.rules[0].to[0].operation.hosts[0]: must be a lowercase host name"},
		"path relative":  {`{"rules": [{"to": [{"operation": {"paths": ["admin"]}}]}]}`, `spec.rules[0].to[0].operation.paths[0]: must start with "/"`},
		"path dots":      {`{"rules": [{"to": [{"operation": {"paths": ["/a/../admin"]}}]}]}`, "spec.rules[0].to[0].operation.paths[0]: must be in normal form"},
		"path slashes":   {`{"rules": [{"to": [{"operation": {"paths": ["//admin"]}}]}]}`, "spec.rules[0].to[0].operation.paths[0]: must be in normal form"},
		"path encoded":   {`{"rules": [{"to": [{"operation": {"paths": ["/%61dmin"]}}]}]}`, "spec.rules[0].to[0].operation.paths[0]: must be in normal form"},
		"path query":     {`{"rules": [{"to": [{"operation": {"paths": ["/a?b"]}}]}]}`, "spec.rules[0].to[0].operation.paths[0]: must be in normal form"},
		"path two stars": {`{"rules": [{"to": [{"operation": {"paths": ["*a*"]}}]}]}`, "spec.rules[0].to[0].operation.paths[0]: must be a path"},
		"port":           {`{"rules": [{"to": [{"operation": {"ports": [0]}}]}]}`, "spec.rules[0].to[0].operation.ports[0]: must be 1..65535"},
		"when key":       {`{"rules": [{"when": [{"key": "source.ip", "values": ["1"]}]}]}`, "spec.rules[0].when[0].key: must be request.headers[NAME]"},
		"when values":    {`{"rules": [{"when": [{"key": "request.headers[x]"}]}]}`, "spec.rules[0].when[0].values: at least one value"},
		"when value":     {`{"rules": [{"when": [{"key": "request.headers[x]", "values": ["a*b"]}]}]}`, "spec.rules[0].when[0].values[0]: must be a non-empty value"},
		"unknown field":  {`{"rules": [{"from": [{"source": {"notPrincipals": ["x"]}}]}]}`, "spec.rules[0].from[0].source.notPrincipals: unknown field"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(`{"apiVersion": "weft.dev/v1alpha1", "kind": "AuthorizationPolicy", "metadata": {"name": "p"}, "spec": ` + tc.spec + `}`))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAuthorizationPolicyAccepts(t *testing.T) {
	_, err := Decode([]byte(`{"apiVersion": "weft.dev/v1alpha1", "kind": "AuthorizationPolicy", "metadata": {"name": "p"}, "spec": {
	 "rules": [{"from": [{"source": {"principals": ["spiffe://weft.local/ns/a/sa/b", "weft.local/ns/a/*", "*/sa/b", "*"], "namespaces": ["a"]}}],
	  "to": [{"operation": {"hosts": ["catalog", "*.shop"], "methods": ["GET"], "paths": ["/", "/admin", "/admin/*", "*.json", "*", "/a%20b", "/a;b"], "ports": [80]}}],
	  "when": [{"key": "request.headers[X-Tenant]", "values": ["a", "b*", "*c", "*"]}]}, {}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if PrincipalID("weft.local/ns/a/sa/b") != "spiffe://weft.local/ns/a/sa/b" || PrincipalID("*/sa/b") != "*/sa/b" {
		t.Fatal("PrincipalID")
	}
}
