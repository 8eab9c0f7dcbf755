package server

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/internal/xds/translate"
)

// Type URLs served.
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	// SecretType is SDS: the trust bundle ("ROOTCA"), asked for by name.
	SecretType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

// The served types, indexed in push order: CDS, then EDS, then LDS, then
// RDS, so a proxy never holds a route to a cluster it has not been sent,
// nor a listener whose routes it cannot fetch yet (xDS's make-before-break
// order). SDS (the trust bundle) is independent of the others.
const (
	cds = iota
	eds
	lds
	rds
	sds
	numTypes
)

var (
	typeURLs   = [numTypes]string{ClusterType, EndpointType, ListenerType, RouteType, SecretType}
	shortTypes = [numTypes]string{"CDS", "EDS", "LDS", "RDS", "SDS"}
	// wildcard types may be subscribed to with no names, meaning "all";
	// the others are always named (xDS's rule for CDS/LDS versus EDS/RDS).
	wildcard = [numTypes]bool{cds: true, lds: true}
)

func typeIndex(url string) int {
	for i, u := range typeURLs {
		if u == url {
			return i
		}
	}
	return -1
}

// deterministic makes equal resources marshal to equal bytes (maps in
// sorted order), which is what lets MarshalFrom spot unchanged ones.
var deterministic = proto.MarshalOptions{Deterministic: true}

// Resources is one marshalled config. It is immutable once built, so any
// number of streams read it at once without locks.
type Resources struct {
	// Version names the whole config. Each type also has its own version:
	// the Version at which its content last changed.
	Version string
	types   [numTypes]*typeSet
	intern  map[string]nameRef // every name, for decodeRequest
}

// typeSet is the resources of one type, shared by every stream and by
// successive Resources while the type's content does not change.
type typeSet struct {
	version string
	byName  map[string]*anypb.Any
	names   []string     // sorted
	all     []*anypb.Any // in names order: a wildcard answer, shared
	encoded []byte       // the response for all, less its nonce (codec.go)
}

// Marshal turns a translated snapshot into Resources once, so every stream
// that serves it sends the same bytes. Every type gets version.
func Marshal(version string, s *translate.Snapshot) (*Resources, error) {
	return MarshalFrom(nil, version, s)
}

// MarshalFrom is Marshal for the config that follows prev: a type whose
// content equals prev's keeps prev's version and bytes, so an endpoint
// change is pushed as EDS alone and every other type stays what proxies
// hold. prev may be nil.
func MarshalFrom(prev *Resources, version string, s *translate.Snapshot) (*Resources, error) {
	var in [numTypes][]named
	for _, c := range s.Clusters {
		in[cds] = append(in[cds], named{c.Name, c})
	}
	for _, e := range s.Endpoints {
		in[eds] = append(in[eds], named{e.ClusterName, e})
	}
	for _, l := range s.Listeners {
		in[lds] = append(in[lds], named{l.Name, l})
	}
	for _, rc := range s.Routes {
		in[rds] = append(in[rds], named{rc.Name, rc})
	}
	for _, sec := range s.Secrets {
		in[sds] = append(in[sds], named{sec.Name, sec})
	}
	r := &Resources{Version: version}
	for t := range numTypes {
		var old *typeSet
		if prev != nil {
			old = prev.types[t]
		}
		ts, err := marshalType(old, t, version, in[t])
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", shortTypes[t], err)
		}
		r.types[t] = ts
	}
	r.intern = internNames(r)
	return r, nil
}

// TypeVersion is the version of one type (a type URL): the config
// Version at which its content last changed. "" for a type not served.
func (r *Resources) TypeVersion(typeURL string) string {
	if t := typeIndex(typeURL); t >= 0 {
		return r.types[t].version
	}
	return ""
}

type named struct {
	name string
	msg  proto.Message
}

func marshalType(old *typeSet, t int, version string, in []named) (*typeSet, error) {
	ts := &typeSet{version: version, byName: make(map[string]*anypb.Any, len(in))}
	same := old != nil
	for _, n := range in {
		a := &anypb.Any{}
		if err := anypb.MarshalFrom(a, n.msg, deterministic); err != nil {
			return nil, fmt.Errorf("%s: %w", n.name, err)
		}
		if old != nil {
			// Keep the resource proxies already hold: one copy in memory
			// however many configs share it.
			if o := old.byName[n.name]; o != nil && bytes.Equal(o.Value, a.Value) {
				a = o
			} else {
				same = false
			}
		}
		ts.byName[n.name] = a
	}
	if same && len(old.byName) == len(ts.byName) {
		return old, nil
	}
	ts.names = make([]string, 0, len(ts.byName))
	for n := range ts.byName {
		ts.names = append(ts.names, n)
	}
	sort.Strings(ts.names)
	ts.all = make([]*anypb.Any, len(ts.names))
	for i, n := range ts.names {
		ts.all[i] = ts.byName[n]
	}
	var err error
	if ts.encoded, err = ts.encode(t); err != nil {
		return nil, err
	}
	return ts, nil
}

// pick returns the resources a subscription to names asks for, sorted.
// A wildcard subscription, or one naming exactly every resource (what a
// sidecar asks for by EDS), shares the type's one slice.
func (ts *typeSet) pick(wildcard bool, names []string) []*anypb.Any {
	if (len(names) == 0 && wildcard) || equalStrings(names, ts.names) {
		return ts.all
	}
	keys := make([]string, 0, len(names))
	for _, n := range names {
		if _, ok := ts.byName[n]; ok {
			keys = append(keys, n)
		}
	}
	sort.Strings(keys)
	out := make([]*anypb.Any, 0, len(keys))
	for i, k := range keys {
		if i > 0 && k == keys[i-1] {
			continue // a name listed twice is sent once
		}
		out = append(out, ts.byName[k])
	}
	return out
}

// MaxMissing caps the missing names kept per type and stream, so a client
// naming thousands of unknown resources costs a bounded status.
const MaxMissing = 100

// missing returns the names asked for that ts does not hold, sorted and
// deduplicated, at most MaxMissing; nil when it holds them all. A
// wildcard subscription (no names) misses nothing, and neither does a
// sidecar's inbound listener: a sidecar whose service is no Service
// resource (a client only) has none, which means no policy governs it.
func (ts *typeSet) missing(names []string) []string {
	if len(names) == 0 || equalStrings(names, ts.names) {
		return nil
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, translate.InboundListenerPrefix) {
			continue
		}
		if _, ok := ts.byName[n]; !ok && !slices.Contains(out, n) {
			out = append(out, n)
			if len(out) == MaxMissing {
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
