package client

import (
	"errors"
	"runtime"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/internal/xds/server"
)

// allocBound is the most a decoder may allocate for n input bytes. The
// worst expansion is an endpoint or label map built from about ten bytes;
// the constant covers fixed costs (error strings, first slices).
func allocBound(n int) uint64 { return 64*uint64(n) + 256<<10 }

// measured runs decode and fails the test if it allocated past allocBound.
// TotalAlloc counts every goroutine, so the bound holds with room for the
// fuzzing engine's own few allocations.
func measured[T any](t *testing.T, in []byte, decode func() (T, error)) (T, error) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := decode()
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > allocBound(len(in)) {
		t.Fatalf("decoding %d bytes allocated %d, over the bound %d", len(in), n, allocBound(len(in)))
	}
	return got, err
}

// againstReference holds a client decode to the reference path: every error
// is of a known kind; what the reference accepts, the client accepts with the same
// result unless it refuses it on purpose (ErrUnsupported, ErrLimit,
// errBeyondPGV); and what xdstest.ToProxy itself refuses, the client refuses. The client
// may accept what the reference rejects for a field the client never reads.
func againstReference(t *testing.T, got any, err error, want any, realErr error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrLimit) {
		t.Fatalf("error of no known kind: %v", err)
	}
	switch {
	case errors.Is(realErr, errToProxy) && err == nil:
		t.Fatalf("xdstest.ToProxy rejects (%v), the client accepts", realErr)
	case realErr == nil && err != nil && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrLimit) && !errors.Is(err, errBeyondPGV):
		t.Fatalf("reference accepts, the client rejects: %v", err)
	case realErr == nil && err == nil:
		if d := cmp.Diff(want, got, cmpRoutes); d != "" {
			t.Fatalf("differs from the reference (-reference +client):\n%s", d)
		}
	}
}

// seeds adds translate's resources of one kind, each whole and in pairs
// (a merge), plus the hand-built cases of the reject tests.
func seeds(f *testing.F, msgs []proto.Message, cases []decodeCase) {
	for i, m := range msgs {
		b := marshal(f, m)
		f.Add(b)
		if i > 0 {
			f.Add(append(marshal(f, msgs[i-1]), b...))
		}
	}
	for _, c := range cases {
		f.Add(marshal(f, c.msg))
	}
}

func FuzzDecodeCluster(f *testing.F) {
	snap := meshSnapshot(f)
	var msgs []proto.Message
	for _, c := range snap.Clusters {
		msgs = append(msgs, c)
	}
	seeds(f, msgs, clusterCases())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := measured(t, b, func() (any, error) { return decodeCluster(b) })
		want, realErr := realCluster(b)
		againstReference(t, got, err, want, realErr)
	})
}

func FuzzDecodeEndpoints(f *testing.F) {
	snap := meshSnapshot(f)
	var msgs []proto.Message
	for _, e := range snap.Endpoints {
		msgs = append(msgs, e)
	}
	seeds(f, msgs, endpointCases())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := measured(t, b, func() (any, error) { _, eps, err := decodeEndpoints(b); return eps, err })
		_, want, realErr := realEndpoints(b)
		againstReference(t, got, err, want, realErr)
	})
}

func FuzzDecodeRoutes(f *testing.F) {
	snap := meshSnapshot(f)
	msgs := []proto.Message{snap.Routes[0]}
	for _, vh := range snap.Routes[0].VirtualHosts {
		msgs = append(msgs, vh) // a virtual host's fields, read as a route config's
	}
	seeds(f, msgs, append(append(append(routeCases(), filterCases(f)...), headerCases()...), urlFilterCases()...))
	// protobuf builds a message type's coders on its first decode, once
	// per process: warm them so the allocation bound measures decoding.
	decodeRoutes(marshal(f, snap.Routes[0]))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := measured(t, b, func() (any, error) { _, rc, err := decodeRoutes(b); return rc, err })
		_, want, realErr := realRoutes(b)
		againstReference(t, got, err, want, realErr)
	})
}

func FuzzDecodeResponse(f *testing.F) {
	snap := meshSnapshot(f)
	add := func(typ string, ms ...proto.Message) {
		r := &discoveryv3.DiscoveryResponse{VersionInfo: "1", TypeUrl: typ, Nonce: "1"}
		for _, m := range ms {
			a, err := anypb.New(m)
			if err != nil {
				f.Fatal(err)
			}
			r.Resources = append(r.Resources, a)
		}
		f.Add(marshal(f, r))
	}
	var cs, es []proto.Message
	for _, c := range snap.Clusters {
		cs = append(cs, c)
	}
	for _, e := range snap.Endpoints {
		es = append(es, e)
	}
	add(server.ClusterType, cs...)
	add(server.EndpointType, es...)
	add(server.RouteType, snap.Routes[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := measured(t, b, func() (response, error) { return decodeResponse(b) })
		ref := &discoveryv3.DiscoveryResponse{}
		realErr := proto.Unmarshal(b, ref)
		if realErr == nil && err != nil && !errors.Is(err, ErrLimit) {
			t.Fatalf("protobuf reads it, the client fails: %v", err)
		}
		if err != nil || realErr != nil {
			return
		}
		if got.version != ref.VersionInfo || got.typeURL != ref.TypeUrl || got.nonce != ref.Nonce {
			t.Fatalf("envelope %q %q %q, reference %q %q %q", got.version, got.typeURL, got.nonce, ref.VersionInfo, ref.TypeUrl, ref.Nonce)
		}
		if got.err == nil && len(got.resources) != len(ref.Resources) {
			t.Fatalf("%d resources, reference %d", len(got.resources), len(ref.Resources))
		}
		// Decoding the resources must not panic either, whatever they hold.
		st := newState()
		_ = st.absorb(&got)
	})
}
