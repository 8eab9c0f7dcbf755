package server

import (
	"context"
	"errors"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestAuthorizeHook: a stream the hook refuses ends with PermissionDenied
// before anything is sent and is never listed as a proxy; one it admits
// is served.
func TestAuthorizeHook(t *testing.T) {
	for _, tc := range []struct {
		node string
		want codes.Code
	}{{"rogue", codes.PermissionDenied}, {"frontend-1", codes.OK}} {
		t.Run(tc.node, func(t *testing.T) {
			srv, s := start(t, true)
			res, err := Marshal("1", snapshot("a"))
			if err != nil {
				t.Fatal(err)
			}
			srv.Set(res)
			var asked string
			srv.SetHooks(Hooks{Authorize: func(_ context.Context, node string) error {
				asked = node
				if node == "rogue" {
					return errors.New("node rogue belongs to another service")
				}
				return nil
			}})
			s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: tc.node}, TypeUrl: ClusterType})
			r, err := s.Recv()
			if status.Code(err) != tc.want {
				t.Fatalf("recv: %v %v; want %v", r, err, tc.want)
			}
			if asked != tc.node {
				t.Fatalf("hook asked for %q", asked)
			}
			if proxies := len(srv.Proxies()); (tc.want == codes.OK) != (proxies == 1) {
				t.Fatalf("%d proxies listed", proxies)
			}
		})
	}
}
