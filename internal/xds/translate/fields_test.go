package translate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/registry"
)

// fieldsBase is a valid mesh in which every list the walk reaches has an
// element, and a second Service that references can move to.
const fieldsBase = `[
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "catalog"},
  "spec": {"ports": [{"port": 80}], "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "payments"}, "spec": {"ports": [{"port": 9000}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute", "metadata": {"name": "catalog"},
  "spec": {"parentRefs": [{"name": "catalog"}], "rules": [{"backendRefs": [{"name": "catalog", "subset": "v1"}, {"name": "catalog"}]}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "TrafficPolicy", "metadata": {"name": "catalog"}, "spec": {"targetRef": {"name": "catalog"}}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "AuthorizationPolicy", "metadata": {"name": "catalog"},
  "spec": {"targetRef": {"name": "catalog"}, "rules": [{"from": [{"source": {"principals": ["spiffe://t/ns/a/sa/b"], "namespaces": ["a"]}}],
   "to": [{"operation": {"hosts": ["catalog"], "methods": ["GET"], "paths": ["/a"], "ports": [80]}}], "when": [{"key": "request.headers[x-a]", "values": ["1"]}]}]}}
]`

// notEnforced lists the only fields allowed to change nothing in the
// translated output: identity and bookkeeping, never behaviour.
var notEnforced = map[string]string{
	"apiVersion":                  "type metadata: checked by Decode, selects the Go type",
	"kind":                        "type metadata: checked by Decode, selects the Go type",
	"metadata.name":               "metadata: identity (routes' names use it, policies' do not)",
	"metadata.namespace":          "metadata: identity",
	"metadata.labels":             "metadata: for people and tools",
	"metadata.annotations":        "metadata: for people and tools",
	"metadata.resourceVersion":    "metadata: written by the control plane",
	"metadata.generation":         "metadata: written by the control plane",
	"status.observedGeneration":   "status: written by the control plane",
	"status.conditions[].type":    "status: written by the control plane",
	"status.conditions[].status":  "status: written by the control plane",
	"status.conditions[].reason":  "status: written by the control plane",
	"status.conditions[].message": "status: written by the control plane",
	"Service spec.ports[].name":   "a port's name labels it for people, as metadata does; nothing refers to it yet",
}

// fieldCase sets one field: with makes the value valid (and is applied to
// the baseline too, so only value itself can make the difference).
type fieldCase struct {
	value any
	with  map[string]any
	// onlyDefault marks a field with a single valid value (its default):
	// setting anything else must be refused naming the field.
	onlyDefault bool
	// also is set together with value (not on the baseline): the
	// companion a union's discriminator needs (Gateway API's path
	// modifier type names which replace field is read).
	also map[string]any
}

var (
	endpointWith = map[string]any{"spec.endpoints[].address": "10.0.0.1", "spec.endpoints[].port": int32(9)}
	headerWith   = map[string]any{"spec.rules[].matches[].headers[].name": "x-a", "spec.rules[].matches[].headers[].value": "1"}
	queryWith    = map[string]any{"spec.rules[].matches[].queryParams[].name": "q", "spec.rules[].matches[].queryParams[].value": "1"}
	ringHeader   = map[string]any{"spec.loadBalancer.type": "RING_HASH", "spec.loadBalancer.hashOn.header": "x-a"}
	ringCookie   = map[string]any{"spec.loadBalancer.type": "RING_HASH", "spec.loadBalancer.hashOn.cookie": "a"}
	// A retries block already present, so each field must change the output by itself.
	retriesWith    = map[string]any{"spec.retries.retryOn": []string{"5xx"}}
	routeRetryWith = map[string]any{"spec.rules[].retry.attempts": int32(3)}
	// The baselines already hold the block, so each field must move the
	// output by itself, not by creating its parent.
	breakerWith = map[string]any{"spec.circuitBreaker.maxRequests": int32(7), "spec.circuitBreaker.maxConnections": int32(7)}
	outlierWith = map[string]any{"spec.outlierDetection.interval": "2s", "spec.outlierDetection.baseEjectionTime": "2s"}
	successWith = map[string]any{"spec.outlierDetection.successRate.minimumHosts": int32(4), "spec.outlierDetection.successRate.requestVolume": int32(20)}
	delayWith   = map[string]any{"spec.rules[].filters[].type": "Fault", "spec.rules[].filters[].fault.delay.fixedDelay": "1s"}
	abortWith   = map[string]any{"spec.rules[].filters[].type": "Fault", "spec.rules[].filters[].fault.abort.httpStatus": int32(503)}
	grpcWith    = map[string]any{"spec.rules[].filters[].type": "Fault", "spec.rules[].filters[].fault.abort.grpcStatus": int32(14)}
	limitWith   = map[string]any{"spec.rules[].filters[].type": "RateLimit", "spec.rules[].filters[].rateLimit.requestsPerSecond": int32(10)}
	reqSetWith  = map[string]any{"spec.rules[].filters[].type": "RequestHeaderModifier", "spec.rules[].filters[].requestHeaderModifier.set[].name": "x-a", "spec.rules[].filters[].requestHeaderModifier.set[].value": "1"}
	reqAddWith  = map[string]any{"spec.rules[].filters[].type": "RequestHeaderModifier", "spec.rules[].filters[].requestHeaderModifier.add[].name": "x-a", "spec.rules[].filters[].requestHeaderModifier.add[].value": "1"}
	respSetWith = map[string]any{"spec.rules[].filters[].type": "ResponseHeaderModifier", "spec.rules[].filters[].responseHeaderModifier.set[].name": "x-a", "spec.rules[].filters[].responseHeaderModifier.set[].value": "1"}
	respAddWith = map[string]any{"spec.rules[].filters[].type": "ResponseHeaderModifier", "spec.rules[].filters[].responseHeaderModifier.add[].name": "x-a", "spec.rules[].filters[].responseHeaderModifier.add[].value": "1"}
	policyLimit = map[string]any{"spec.rateLimit.requestsPerSecond": int32(10)}
	rwHost      = map[string]any{"spec.rules[].filters[].type": "URLRewrite", "spec.rules[].filters[].urlRewrite.hostname": "a.example"}
	rwFull      = map[string]any{"spec.rules[].filters[].type": "URLRewrite", "spec.rules[].filters[].urlRewrite.path.type": "ReplaceFullPath", "spec.rules[].filters[].urlRewrite.path.replaceFullPath": "/a"}
	rwPrefix    = map[string]any{"spec.rules[].filters[].type": "URLRewrite", "spec.rules[].filters[].urlRewrite.path.type": "ReplacePrefixMatch", "spec.rules[].filters[].urlRewrite.path.replacePrefixMatch": "/a"}
	rdWith      = map[string]any{"spec.rules[].filters[].type": "RequestRedirect", "spec.rules[].backendRefs": []mesh.BackendRef(nil), "spec.rules[].filters[].requestRedirect.scheme": "http"}
	rdFull      = with(rdWith, map[string]any{"spec.rules[].filters[].requestRedirect.path.type": "ReplaceFullPath", "spec.rules[].filters[].requestRedirect.path.replaceFullPath": "/a"})
	rdPrefix    = with(rdWith, map[string]any{"spec.rules[].filters[].requestRedirect.path.type": "ReplacePrefixMatch", "spec.rules[].filters[].requestRedirect.path.replacePrefixMatch": "/a"})
	mirrorWith  = map[string]any{"spec.rules[].filters[].type": "RequestMirror", "spec.rules[].filters[].requestMirror.backendRef.name": "catalog"}
	mirrorFrac  = with(mirrorWith, map[string]any{"spec.rules[].filters[].requestMirror.fraction.numerator": int32(1)})
)

// with merges field settings, later ones winning.
func with(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// unset clears a field in a fieldCase's also.
type unset struct{}

// fieldCases gives every other field a valid non-zero value. A new field
// needs a case here, and then must change the output or be refused.
var fieldCases = map[string]fieldCase{
	"Service spec.ports[].port":                            {value: int32(8080)},
	"Service spec.ports[].protocol":                        {value: "grpc"},
	"Service spec.subsets[].name":                          {value: "v3"},
	"Service spec.subsets[].labels":                        {value: map[string]string{"version": "v2"}},
	"Service spec.endpoints[].address":                     {value: "10.0.0.2", with: endpointWith},
	"Service spec.endpoints[].port":                        {value: int32(10), with: endpointWith},
	"Service spec.endpoints[].labels":                      {value: map[string]string{"version": "v1"}, with: endpointWith},
	"Service spec.endpoints[].zone":                        {value: "b", with: endpointWith},
	"Service spec.dns":                                     {value: "catalog.example.com"},
	"Service spec.mtls.mode":                               {value: "PERMISSIVE"},
	"HTTPRoute spec.parentRefs[].group":                    {value: "example.com", onlyDefault: true},
	"HTTPRoute spec.parentRefs[].kind":                     {value: "Gateway", onlyDefault: true},
	"HTTPRoute spec.parentRefs[].name":                     {value: "payments"},
	"HTTPRoute spec.parentRefs[].port":                     {value: int32(80)},
	"HTTPRoute spec.hostnames":                             {value: []string{"catalog.example.com"}},
	"HTTPRoute spec.rules[].name":                          {value: "main"},
	"HTTPRoute spec.rules[].filters[].type":                {value: "CORS"},
	"HTTPRoute spec.rules[].filters[].urlRewrite.hostname": {value: "b.example", with: rwHost},
	"HTTPRoute spec.rules[].filters[].urlRewrite.path.type": {value: "ReplaceFullPath", with: rwPrefix,
		also: map[string]any{"spec.rules[].filters[].urlRewrite.path.replacePrefixMatch": unset{}, "spec.rules[].filters[].urlRewrite.path.replaceFullPath": "/a"}},
	"HTTPRoute spec.rules[].filters[].urlRewrite.path.replaceFullPath":    {value: "/b", with: rwFull},
	"HTTPRoute spec.rules[].filters[].urlRewrite.path.replacePrefixMatch": {value: "/b", with: rwPrefix},
	"HTTPRoute spec.rules[].filters[].requestRedirect.scheme":             {value: "https", with: rdWith},
	"HTTPRoute spec.rules[].filters[].requestRedirect.hostname":           {value: "b.example", with: rdWith},
	"HTTPRoute spec.rules[].filters[].requestRedirect.path.type": {value: "ReplaceFullPath", with: rdPrefix,
		also: map[string]any{"spec.rules[].filters[].requestRedirect.path.replacePrefixMatch": unset{}, "spec.rules[].filters[].requestRedirect.path.replaceFullPath": "/a"}},
	"HTTPRoute spec.rules[].filters[].requestRedirect.path.replaceFullPath":    {value: "/b", with: rdFull},
	"HTTPRoute spec.rules[].filters[].requestRedirect.path.replacePrefixMatch": {value: "/b", with: rdPrefix},
	"HTTPRoute spec.rules[].filters[].requestRedirect.port":                    {value: int32(8080), with: rdWith},
	"HTTPRoute spec.rules[].filters[].requestRedirect.statusCode":              {value: int32(308), with: rdWith},
	"HTTPRoute spec.rules[].filters[].requestMirror.backendRef.group":          {value: "example.com", with: mirrorWith, onlyDefault: true},
	"HTTPRoute spec.rules[].filters[].requestMirror.backendRef.kind":           {value: "Gateway", with: mirrorWith, onlyDefault: true},
	"HTTPRoute spec.rules[].filters[].requestMirror.backendRef.name":           {value: "payments", with: mirrorWith},
	"HTTPRoute spec.rules[].filters[].requestMirror.backendRef.port":           {value: int32(80), with: mirrorWith},
	"HTTPRoute spec.rules[].filters[].requestMirror.backendRef.subset":         {value: "v1", with: mirrorWith},
	"HTTPRoute spec.rules[].filters[].requestMirror.percent":                   {value: int32(50), with: mirrorWith},
	"HTTPRoute spec.rules[].filters[].requestMirror.fraction.numerator":        {value: int32(2), with: mirrorFrac},
	"HTTPRoute spec.rules[].filters[].requestMirror.fraction.denominator":      {value: int32(1000), with: mirrorFrac},
	"HTTPRoute spec.rules[].filters[].requestHeaderModifier.set[].name":        {value: "x-b", with: reqSetWith},
	"HTTPRoute spec.rules[].filters[].requestHeaderModifier.set[].value":       {value: "2", with: reqSetWith},
	"HTTPRoute spec.rules[].filters[].requestHeaderModifier.add[].name":        {value: "x-b", with: reqAddWith},
	"HTTPRoute spec.rules[].filters[].requestHeaderModifier.add[].value":       {value: "2", with: reqAddWith},
	"HTTPRoute spec.rules[].filters[].requestHeaderModifier.remove":            {value: []string{"x-b"}, with: reqSetWith},
	"HTTPRoute spec.rules[].filters[].responseHeaderModifier.set[].name":       {value: "x-b", with: respSetWith},
	"HTTPRoute spec.rules[].filters[].responseHeaderModifier.set[].value":      {value: "2", with: respSetWith},
	"HTTPRoute spec.rules[].filters[].responseHeaderModifier.add[].name":       {value: "x-b", with: respAddWith},
	"HTTPRoute spec.rules[].filters[].responseHeaderModifier.add[].value":      {value: "2", with: respAddWith},
	"HTTPRoute spec.rules[].filters[].responseHeaderModifier.remove":           {value: []string{"x-b"}, with: respSetWith},
	"HTTPRoute spec.rules[].filters[].fault.delay.fixedDelay":                  {value: "2s", with: delayWith},
	"HTTPRoute spec.rules[].filters[].fault.delay.percent":                     {value: int32(50), with: delayWith},
	"HTTPRoute spec.rules[].filters[].fault.abort.httpStatus":                  {value: int32(500), with: abortWith},
	"HTTPRoute spec.rules[].filters[].fault.abort.grpcStatus":                  {value: int32(13), with: grpcWith},
	"HTTPRoute spec.rules[].filters[].fault.abort.percent":                     {value: int32(50), with: abortWith},
	"HTTPRoute spec.rules[].filters[].rateLimit.requestsPerSecond":             {value: int32(20), with: limitWith},
	"HTTPRoute spec.rules[].filters[].rateLimit.burst":                         {value: int32(7), with: limitWith},
	"TrafficPolicy spec.rateLimit.requestsPerSecond":                           {value: int32(20), with: policyLimit},
	"TrafficPolicy spec.rateLimit.burst":                                       {value: int32(7), with: policyLimit},
	"HTTPRoute spec.rules[].matches[].path.type":                               {value: "Exact"},
	"HTTPRoute spec.rules[].matches[].path.value":                              {value: "/api"},
	"HTTPRoute spec.rules[].matches[].headers[].type":                          {value: "RegularExpression", with: headerWith},
	"HTTPRoute spec.rules[].matches[].headers[].name":                          {value: "x-b", with: headerWith},
	"HTTPRoute spec.rules[].matches[].headers[].value":                         {value: "2", with: headerWith},
	"HTTPRoute spec.rules[].matches[].queryParams[].type":                      {value: "RegularExpression", with: queryWith},
	"HTTPRoute spec.rules[].matches[].queryParams[].name":                      {value: "r", with: queryWith},
	"HTTPRoute spec.rules[].matches[].queryParams[].value":                     {value: "2", with: queryWith},
	"HTTPRoute spec.rules[].matches[].method":                                  {value: "GET"},
	"HTTPRoute spec.rules[].backendRefs[].group":                               {value: "example.com", onlyDefault: true},
	"HTTPRoute spec.rules[].backendRefs[].kind":                                {value: "Gateway", onlyDefault: true},
	"HTTPRoute spec.rules[].backendRefs[].name":                                {value: "payments"},
	"HTTPRoute spec.rules[].backendRefs[].port":                                {value: int32(80)},
	"HTTPRoute spec.rules[].backendRefs[].weight":                              {value: int32(5)},
	"HTTPRoute spec.rules[].backendRefs[].subset":                              {value: "v2"},
	"HTTPRoute spec.rules[].timeouts.request":                                  {value: "3s"},
	"HTTPRoute spec.rules[].timeouts.backendRequest":                           {value: "3s"},
	"TrafficPolicy spec.targetRef.kind":                                        {value: "Gateway", onlyDefault: true},
	"TrafficPolicy spec.targetRef.name":                                        {value: "payments", with: map[string]any{"spec.loadBalancer.type": "ROUND_ROBIN"}},
	"TrafficPolicy spec.loadBalancer.type":                                     {value: "ROUND_ROBIN"},
	"TrafficPolicy spec.loadBalancer.localityAware":                            {value: false},
	"TrafficPolicy spec.loadBalancer.hashOn.header":                            {value: "x-b", with: ringHeader},
	"TrafficPolicy spec.loadBalancer.hashOn.cookie":                            {value: "b", with: ringCookie},
	"TrafficPolicy spec.connectionPool.maxConnections":                         {value: int32(10)},
	"TrafficPolicy spec.connectionPool.maxIdle":                                {value: int32(4)},
	"TrafficPolicy spec.connectionPool.connectTimeout":                         {value: "3s"},
	"TrafficPolicy spec.connectionPool.idleTimeout":                            {value: "5s"},
	"TrafficPolicy spec.retries.attempts":                                      {value: int32(3), with: retriesWith},
	"TrafficPolicy spec.retries.perTryTimeout":                                 {value: "1s", with: retriesWith},
	"TrafficPolicy spec.retries.retryOn":                                       {value: []string{"5xx"}, with: map[string]any{"spec.retries.attempts": int32(3)}},
	"TrafficPolicy spec.retries.codes":                                         {value: []int32{409}, with: retriesWith},
	"TrafficPolicy spec.retries.backoff":                                       {value: "50ms", with: retriesWith},
	"TrafficPolicy spec.retries.maxBackoff":                                    {value: "1s", with: retriesWith},
	"TrafficPolicy spec.retries.retryAfterMax":                                 {value: "5s", with: retriesWith},
	"TrafficPolicy spec.retries.retryNonIdempotent":                            {value: true, with: retriesWith},
	"TrafficPolicy spec.retries.budgetPercent":                                 {value: int32(30), with: retriesWith},
	"TrafficPolicy spec.retries.minRetriesPerSecond":                           {value: int32(5), with: retriesWith},
	"HTTPRoute spec.rules[].retry.attempts":                                    {value: int32(3)},
	"HTTPRoute spec.rules[].retry.codes":                                       {value: []int32{503}, with: routeRetryWith},
	"HTTPRoute spec.rules[].retry.backoff":                                     {value: "50ms", with: routeRetryWith},
	"TrafficPolicy spec.circuitBreaker.maxConnections":                         {value: int32(5), with: breakerWith},
	"TrafficPolicy spec.circuitBreaker.maxPendingRequests":                     {value: int32(5), with: breakerWith},
	"TrafficPolicy spec.circuitBreaker.maxRequests":                            {value: int32(5), with: breakerWith},
	"TrafficPolicy spec.circuitBreaker.maxRetries":                             {value: int32(5), with: breakerWith},
	"TrafficPolicy spec.outlierDetection.consecutive5xx":                       {value: int32(1), with: outlierWith},
	"TrafficPolicy spec.outlierDetection.consecutiveGatewayErrors":             {value: int32(2), with: outlierWith},
	"TrafficPolicy spec.outlierDetection.consecutiveConnectFailures":           {value: int32(2), with: outlierWith},
	"TrafficPolicy spec.outlierDetection.interval":                             {value: "1s", with: outlierWith},
	"TrafficPolicy spec.outlierDetection.baseEjectionTime":                     {value: "1s", with: outlierWith},
	"TrafficPolicy spec.outlierDetection.maxEjectionTime":                      {value: "1m", with: outlierWith},
	"TrafficPolicy spec.outlierDetection.maxEjectionPercent":                   {value: int32(50), with: outlierWith},
	"TrafficPolicy spec.outlierDetection.successRate.minimumHosts":             {value: int32(3), with: successWith},
	"TrafficPolicy spec.outlierDetection.successRate.requestVolume":            {value: int32(10), with: successWith},
	"TrafficPolicy spec.outlierDetection.successRate.stdevFactor":              {value: int32(1000), with: successWith},
	"AuthorizationPolicy spec.targetRef.kind":                                  {value: "Gateway", onlyDefault: true},
	"AuthorizationPolicy spec.targetRef.name":                                  {value: "payments"},
	"AuthorizationPolicy spec.action":                                          {value: "DENY"},
	"AuthorizationPolicy spec.rules[].from[].source.principals":                {value: []string{"spiffe://t/ns/a/sa/c"}},
	"AuthorizationPolicy spec.rules[].from[].source.namespaces":                {value: []string{"shop"}},
	"AuthorizationPolicy spec.rules[].to[].operation.hosts":                    {value: []string{"*.shop"}},
	"AuthorizationPolicy spec.rules[].to[].operation.methods":                  {value: []string{"POST"}},
	"AuthorizationPolicy spec.rules[].to[].operation.paths":                    {value: []string{"/b/*"}},
	"AuthorizationPolicy spec.rules[].to[].operation.ports":                    {value: []int32{8080}},
	"AuthorizationPolicy spec.rules[].when[].key":                              {value: "request.headers[x-b]"},
	"AuthorizationPolicy spec.rules[].when[].values":                           {value: []string{"2*"}},
}

// TestEveryFieldEnforcedOrRefused walks every field of every resource kind
// and proves each one either changes the translated xDS or is refused by
// validation: an accepted field that does nothing is a defect.
func TestEveryFieldEnforcedOrRefused(t *testing.T) {
	used := map[string]bool{}
	for _, r := range []mesh.Resource{&mesh.Service{}, &mesh.HTTPRoute{}, &mesh.TrafficPolicy{}, &mesh.AuthorizationPolicy{}} {
		kind := reflect.TypeOf(r).Elem().Name()
		for _, path := range leaves(reflect.TypeOf(r).Elem(), "") {
			key := kind + " " + path
			if notEnforced[path] != "" || notEnforced[key] != "" {
				used[path], used[key] = true, true
				continue
			}
			c, ok := fieldCases[key]
			if !ok {
				t.Errorf("%s: no case; give it a valid value in fieldCases, then enforce it in translate or refuse it in validation", key)
				continue
			}
			used[key] = true
			t.Run(key, func(t *testing.T) { checkField(t, kind, path, c) })
		}
	}
	for k := range fieldCases {
		if !used[k] {
			t.Errorf("fieldCases names %s, which no resource has", k)
		}
	}
	for k := range notEnforced {
		if !used[k] {
			t.Errorf("notEnforced names %s, which no resource has", k)
		}
	}
}

func checkField(t *testing.T, kind, path string, c fieldCase) {
	baseline, err := mutate(kind, c.with, "", nil)
	if err != nil {
		t.Fatalf("the case's baseline is invalid: %v", err)
	}
	got, err := mutate(kind, with(c.with, c.also), path, c.value)
	concrete := strings.ReplaceAll(path, "[]", "[0]")
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			_, fe, _ := strings.Cut(line, ": ")
			fpath, reason, _ := strings.Cut(fe, ": ")
			if c.onlyDefault && fpath == concrete ||
				strings.HasPrefix(concrete, fpath) && strings.HasPrefix(reason, mesh.NotSupported) {
				return // refused, naming the field
			}
		}
		t.Fatalf("refused for another reason than the field itself, so this proves nothing; pick a valid value: %v", err)
	}
	if c.onlyDefault {
		t.Fatalf("%v accepted: a field with one valid value must refuse others", c.value)
	}
	if bytes.Equal(golden(t, baseline), golden(t, got)) {
		t.Fatalf("accepted but the translated xDS is unchanged: enforce it in translate or refuse it in validation")
	}
}

// mutate decodes fieldsBase, sets fields on the catalog resource of kind,
// and returns the translation of the result, or the validation error.
func mutate(kind string, with map[string]any, path string, value any) (*Snapshot, error) {
	rs, err := mesh.Decode([]byte(fieldsBase))
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.GetTypeMeta().Kind == kind && r.GetMeta().Name == "catalog" {
			for p, v := range with {
				set(reflect.ValueOf(r), p, v)
			}
			if path != "" {
				set(reflect.ValueOf(r), path, value)
			}
		}
	}
	b, err := json.Marshal(rs)
	if err != nil {
		return nil, err
	}
	if rs, err = mesh.Decode(b); err != nil {
		return nil, err
	}
	return Translate(Input{Resources: rs, Instances: []registry.Instance{
		{Service: "catalog", ID: "a", Address: "10.0.0.1", Port: 15006, Labels: map[string]string{"version": "v1"}, Zone: "a", Ready: true},
		{Service: "catalog", ID: "b", Address: "10.0.0.2", Port: 15006, Labels: map[string]string{"version": "v2"}, Zone: "b", Ready: true},
	}}, nil)
}

// leaves lists the JSON path of every settable field under t; "[]" marks
// a list of structs, whose first element stands for all.
func leaves(t reflect.Type, path string) []string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct:
		var out []string
		for _, f := range reflect.VisibleFields(t) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous || !f.IsExported() || name == "-" {
				continue
			}
			out = append(out, leaves(f.Type, join(path, name))...)
		}
		return out
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return leaves(t.Elem(), path+"[]")
	}
	return []string{path}
}

// set assigns value at path, allocating pointers and a first list
// element on the way.
func set(v reflect.Value, path string, value any) {
	for _, seg := range strings.Split(path, ".") {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		name, list := strings.CutSuffix(seg, "[]")
		v = fieldByJSON(v, name)
		if _, clear := value.(unset); clear && seg == path[strings.LastIndexByte("."+path, '.'):] {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if list {
			if v.Len() == 0 {
				v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
			}
			v = v.Index(0)
		}
	}
	if v.Kind() == reflect.Pointer {
		v.Set(reflect.New(v.Type().Elem()))
		v = v.Elem()
	}
	v.Set(reflect.ValueOf(value))
}

func fieldByJSON(v reflect.Value, name string) reflect.Value {
	for _, f := range reflect.VisibleFields(v.Type()) {
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name && !f.Anonymous {
			return v.FieldByIndex(f.Index)
		}
	}
	panic("no field " + name + " in " + v.Type().String())
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// A rule whose backend names a missing Service or subset keeps pointing
// at that backend's (absent) cluster: it must never fall through to
// another service's cluster or to the catch-all.
func TestUnknownBackendNeverFallsThrough(t *testing.T) {
	rs, err := mesh.Decode([]byte(`[
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "catalog"}, "spec": {"ports": [{"port": 80}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute", "metadata": {"name": "catalog"},
  "spec": {"parentRefs": [{"name": "catalog"}], "rules": [
   {"matches": [{"path": {"value": "/ghost"}}], "backendRefs": [{"name": "ghost"}]},
   {"matches": [{"path": {"value": "/v9"}}], "backendRefs": [{"name": "catalog", "subset": "v9"}]}]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Translate(Input{Resources: rs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"default/catalog/rule-0/match-0": "ghost.default", "default/catalog/rule-1/match-0": "catalog.default/v9"}
	for _, r := range snap.Routes[0].VirtualHosts[0].Routes {
		if w, ok := want[r.Name]; ok {
			if got := r.GetRoute().GetCluster(); got != w {
				t.Errorf("%s routes to %q, want %q", r.Name, got, w)
			}
			// Gateway API: requests meant for an invalid backendRef get 500.
			if c := r.GetRoute().GetClusterNotFoundResponseCode(); c != routev3.RouteAction_INTERNAL_SERVER_ERROR {
				t.Errorf("%s answers a missing cluster with %v, want INTERNAL_SERVER_ERROR", r.Name, c)
			}
			delete(want, r.Name)
		}
	}
	if len(want) != 0 {
		t.Errorf("routes missing: %v", want)
	}
	for _, c := range snap.Clusters {
		if c.Name == "ghost.default" || c.Name == "catalog.default/v9" {
			t.Errorf("cluster %s made up for a missing backend", c.Name)
		}
	}
}
