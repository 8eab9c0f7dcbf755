package telemetry

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// sameKey must answer exactly what building the key and comparing would:
// random records over a small vocabulary (so equal and unequal tuples
// both occur), with strings at fresh addresses half the time.
func TestSameKeyIsKeyEquality(t *testing.T) {
	m := newIstioMetrics(MetricsOptions{})
	words := []string{"", "a", "b", "catalog", "unknown"}
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		w := words[rng.IntN(len(words))]
		if rng.IntN(2) == 0 {
			return strings.Clone(w) // same bytes, another address
		}
		return w
	}
	wl := func() Workload {
		return Workload{Name: str(), Namespace: str(), Principal: str(), App: str(), Version: str(),
			CanonicalService: str(), CanonicalRevision: str(), Cluster: str()}
	}
	req := func() Request {
		return Request{Reporter: Reporter(rng.IntN(2)), Source: wl(), Destination: wl(),
			Service:  Service{Host: str(), Name: str(), Namespace: str()},
			Protocol: Protocol(rng.IntN(3)), Code: []int{0, 200, 503, 1200, -1}[rng.IntN(5)],
			GRPCStatus: []int{-1, 0, 5, 200, -7}[rng.IntN(5)], Flag: Flag(rng.IntN(int(NumFlags) + 2)), MTLS: rng.IntN(2) == 0}
	}
	keyOf := func(r *Request) seriesKey {
		return m.key(r.Reporter, &r.Source, &r.Destination, &r.Service, r.Protocol, r.Code, r.GRPCStatus, r.Flag, r.MTLS)
	}
	same, differ := 0, 0
	for range 200000 {
		a, b := req(), req()
		if rng.IntN(2) == 0 { // mostly equal: b is a with one field redrawn, or none
			b = a
			switch rng.IntN(6) {
			case 0:
				b.Source.Version = str()
			case 1:
				b.Service.Host = str()
			case 2:
				b.Code = []int{0, 200, 503, 1200, -1}[rng.IntN(5)]
			case 3:
				b.Flag = Flag(rng.IntN(int(NumFlags) + 2))
			case 4:
				b.Destination.Name = strings.Clone(b.Destination.Name)
			}
		}
		k := keyOf(&a)
		want := k == keyOf(&b)
		if got := k.sameKey(&b); got != want {
			t.Fatalf("sameKey = %v, key equality %v:\n%+v\n%+v", got, want, a, b)
		}
		if want {
			same++
		} else {
			differ++
		}
	}
	if same < 1000 || differ < 1000 {
		t.Fatalf("the draw did not exercise both outcomes: %d same, %d differ", same, differ)
	}
}
