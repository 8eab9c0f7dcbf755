package sidecar

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// h2cClient speaks HTTP/2 by prior knowledge, as curl --http2-prior-knowledge.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Protocols: &p}}
}

// protoApp answers with the protocol version it was spoken to in and the
// request body it read. With h2c it speaks HTTP/2 by prior knowledge as
// well as HTTP/1.1.
func protoApp(t *testing.T, h2c bool) string {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Proto, b)
	}))
	if h2c {
		s.Config.Protocols = new(http.Protocols)
		s.Config.Protocols.SetHTTP1(true)
		s.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	s.Start()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func inboundOnly(t *testing.T, app string) string {
	t.Helper()
	_, a := runSidecar(t, &Config{
		Node: "n1", Service: "web", Admin: "off",
		Inbound: []Inbound{{Name: "http", Listen: "127.0.0.1:0", App: app}},
		Limits:  Limits{DrainTimeout: time.Second},
	})
	return a.Inbound["http"]
}

func send(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestInboundAutoKeepsOrConvertsHTTPVersion: with no protocol declared, an
// inbound keeps each request's HTTP version when the app speaks it, and
// converts HTTP/2 to HTTP/1.1 for an app that speaks only HTTP/1.1 (it
// used to get the h2c preface and the caller a 502 "frame too large").
func TestInboundAutoKeepsOrConvertsHTTPVersion(t *testing.T) {
	h1 := inboundOnly(t, protoApp(t, false))
	h2 := inboundOnly(t, protoApp(t, true))
	h1c := &http.Client{Timeout: 5 * time.Second}
	cases := []struct {
		name, addr string
		client     *http.Client
		method     string
		want       string
	}{
		{"h2c to HTTP/1.1 app", h1, h2cClient(), "GET", "HTTP/1.1 "},
		{"h2c POST to HTTP/1.1 app", h1, h2cClient(), "POST", "HTTP/1.1 hello"},
		{"HTTP/1.1 to HTTP/1.1 app", h1, h1c, "POST", "HTTP/1.1 hello"},
		{"h2c to h2c app", h2, h2cClient(), "POST", "HTTP/2.0 hello"},
		{"HTTP/1.1 to h2c app", h2, h1c, "GET", "HTTP/1.1 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 2; i++ { // the second finds the endpoint's version remembered
				body := ""
				if tc.method == "POST" {
					body = "hello"
				}
				code, got := send(t, tc.client, tc.method, "http://"+tc.addr+"/x", body)
				if code != 200 || got != tc.want {
					t.Fatalf("try %d: %d %q, want 200 %q", i, code, got, tc.want)
				}
			}
		})
	}
}

// TestInboundGRPCToHTTP1AppIsUnavailable: gRPC cannot be converted to
// HTTP/1.1; the caller learns why from a gRPC status, not an HTTP error.
func TestInboundGRPCToHTTP1AppIsUnavailable(t *testing.T) {
	in := inboundOnly(t, protoApp(t, false))
	conn, err := grpc.NewClient("passthrough:///"+in, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "HTTP/1.1 only") {
		t.Fatalf("got %v, want UNAVAILABLE saying the app speaks HTTP/1.1 only", err)
	}
}
