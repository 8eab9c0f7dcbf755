package route

import (
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/fault"
	"github.com/weft-mesh/weft/internal/proxy/ratelimit"
)

func limitedConfig(routeLimit, hostLimit *ratelimit.Config) Config {
	return Config{VirtualHosts: []VirtualHost{{
		Name: "catalog", Domains: []string{"catalog"}, RateLimit: hostLimit,
		Routes: []Route{
			{Name: "api", Match: Match{Path: PathMatch{Value: "/api"}}, RateLimit: routeLimit, Backends: []Backend{{Cluster: "c"}}},
			{Name: "rest", Backends: []Backend{{Cluster: "c"}}},
		},
	}}}
}

func lookup(t *testing.T, tb *Table, path string) *Route {
	t.Helper()
	r := tb.Lookup([]byte("catalog"), []byte("GET"), []byte(path), nil, noHeaders{})
	if r == nil {
		t.Fatalf("no route for %s", path)
	}
	return r
}

type noHeaders struct{}

func (noHeaders) Get(string) ([]byte, bool) { return nil, false }

// A push that leaves a limit as it was keeps the bucket, debt included; a
// changed limit starts a new one.
func TestBucketSurvivesUnchangedPush(t *testing.T) {
	lim := ratelimit.Config{Rate: 1, Burst: 1}
	t1, err := Compile(limitedConfig(&lim, nil))
	if err != nil {
		t.Fatal(err)
	}
	b1 := lookup(t, t1, "/api").Bucket()
	if ok, _ := b1.Allow(0); !ok {
		t.Fatal("first request refused")
	}
	t2, err := CompileFrom(limitedConfig(&lim, nil), t1)
	if err != nil {
		t.Fatal(err)
	}
	if b2 := lookup(t, t2, "/api").Bucket(); b2 != b1 {
		t.Fatal("an unchanged limit got a new (full) bucket on a push")
	}
	if ok, _ := lookup(t, t2, "/api").Bucket().Allow(0); ok {
		t.Fatal("the push refilled the bucket")
	}
	lim2 := ratelimit.Config{Rate: 2, Burst: 1}
	t3, err := CompileFrom(limitedConfig(&lim2, nil), t2)
	if err != nil {
		t.Fatal(err)
	}
	if b3 := lookup(t, t3, "/api").Bucket(); b3 == b1 || b3.Config() != lim2 {
		t.Fatal("a changed limit kept the old bucket")
	}
}

// A host's limit is one bucket shared by its routes; a route's own limit
// takes its place.
func TestHostBucketShared(t *testing.T) {
	own := ratelimit.Config{Rate: 5, Burst: 5}
	host := ratelimit.Config{Rate: 1, Burst: 1}
	tb, err := Compile(limitedConfig(&own, &host))
	if err != nil {
		t.Fatal(err)
	}
	api, rest := lookup(t, tb, "/api"), lookup(t, tb, "/x")
	if api.Bucket() == nil || rest.Bucket() == nil || api.Bucket() == rest.Bucket() {
		t.Fatal("want the route's own bucket and the host's, distinct")
	}
	if rest.Bucket().Config() != host || !rest.Filtered() {
		t.Fatalf("rest has %+v, want the host's limit", rest.Bucket().Config())
	}
	tb2, err := CompileFrom(limitedConfig(&own, &host), tb)
	if err != nil {
		t.Fatal(err)
	}
	if lookup(t, tb2, "/x").Bucket() != rest.Bucket() {
		t.Fatal("the host's bucket did not survive an unchanged push")
	}
}

func TestFilterConfigRefused(t *testing.T) {
	bad := ratelimit.Config{Rate: 0, Burst: 1}
	if _, err := Compile(limitedConfig(&bad, nil)); err == nil {
		t.Error("rate 0 accepted")
	}
	if _, err := Compile(limitedConfig(nil, &bad)); err == nil {
		t.Error("host rate 0 accepted")
	}
	cfg := limitedConfig(nil, nil)
	cfg.VirtualHosts[0].Routes[0].Fault = &fault.Config{AbortHTTP: 99, AbortShare: 1}
	if _, err := Compile(cfg); err == nil {
		t.Error("abort status 99 accepted")
	}
	cfg.VirtualHosts[0].Routes[0].Fault = &fault.Config{AbortHTTP: 503, AbortShare: fault.Million + 1}
	if _, err := Compile(cfg); err == nil {
		t.Error("share over a million accepted")
	}
	if r := lookup(t, mustCompile(t, limitedConfig(nil, nil)), "/api"); r.Filtered() {
		t.Error("a route without filters reports Filtered")
	}
}

func mustCompile(t *testing.T, c Config) *Table {
	t.Helper()
	tb, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}
