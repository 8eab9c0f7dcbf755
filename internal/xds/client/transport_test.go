package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// startGRPC serves a grpc-go server with opts and no services on loopback.
func startGRPC(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	return ln.Addr().String()
}

// wantStatus fails unless err is the gRPC status code with message msg.
func wantStatus(t *testing.T, err error, code int, msg string) {
	t.Helper()
	var se *statusError
	if !errors.As(err, &se) || se.code != code || (msg != "" && se.message != msg) {
		t.Fatalf("stream ended with %v, want status %d %q", err, code, msg)
	}
}

// A call is a POST of gRPC to the ADS method, and whatever status ends
// it, from grpc-go or by hand, in trailers or trailers-only, ends the
// stream with that status, its message decoded.
func TestStreamEndsWithServerStatus(t *testing.T) {
	t.Parallel()
	checked := func(t *testing.T, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != adsMethod || r.ProtoMajor != 2 ||
			r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("Te") != "trailers" {
			t.Errorf("request %s %s %s, headers %v", r.Method, r.URL.Path, r.Proto, r.Header)
		}
	}
	tests := []struct {
		name    string
		server  func(t *testing.T) string
		code    int
		msg     string
		wantErr error
	}{
		{name: "trailers-only", code: 7, msg: "node n: denied", server: func(t *testing.T) string {
			addr, _ := startFake(t, func(w http.ResponseWriter, r *http.Request) {
				checked(t, r)
				w.Header().Set("Content-Type", "application/grpc")
				w.Header().Set("Grpc-Status", "7")
				w.Header().Set("Grpc-Message", "node n: denied")
				w.WriteHeader(http.StatusOK)
			})
			return addr
		}},
		{name: "trailers after a message", code: 8, msg: "too many: 100%", server: func(t *testing.T) string {
			addr, _ := startFake(t, func(w http.ResponseWriter, r *http.Request) {
				readRequest(t, r)
				grpcHeaders(w)
				w.Write(appendFrame(nil, nil))
				endWith(w, "8", "too many: 100%25")
			})
			return addr
		}},
		{name: "grpc-go, no such service", code: 12, server: func(t *testing.T) string { return startGRPC(t) }},
		{name: "grpc-go, after a message", code: 8, msg: "too many proxies: 100% ü\r\n", server: func(t *testing.T) string {
			return startGRPC(t, grpc.UnknownServiceHandler(func(_ any, s grpc.ServerStream) error {
				if err := s.RecvMsg(&discoveryv3.DiscoveryRequest{}); err != nil {
					return err
				}
				if err := s.SendMsg(&discoveryv3.DiscoveryResponse{VersionInfo: "x", TypeUrl: "type.googleapis.com/unknown"}); err != nil {
					return err
				}
				return status.Error(codes.ResourceExhausted, "too many proxies: 100% ü\r\n")
			}))
		}},
		{name: "status ok", wantErr: errStreamOK, server: func(t *testing.T) string {
			addr, _ := startFake(t, func(w http.ResponseWriter, r *http.Request) {
				readRequest(t, r)
				grpcHeaders(w)
				endWith(w, "0", "")
			})
			return addr
		}},
		{name: "no status", wantErr: errNoStatus, server: func(t *testing.T) string {
			addr, _ := startFake(t, func(w http.ResponseWriter, r *http.Request) { grpcHeaders(w) })
			return addr
		}},
		{name: "http error", wantErr: errNotGRPC, server: func(t *testing.T) string {
			addr, _ := startFake(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) })
			return addr
		}},
		{name: "not grpc", wantErr: errNotGRPC, server: func(t *testing.T) string {
			addr, _ := startFake(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
			return addr
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := streamOnce(t, Config{Servers: []string{tt.server(t)}})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("stream ended with %v, want %v", err, tt.wantErr)
				}
				return
			}
			wantStatus(t, err, tt.code, tt.msg)
		})
	}
}

// A message over the limit ends the stream before anything of it is
// allocated or decoded, and the client reconnects.
func TestStreamRejectsOversizedMessage(t *testing.T) {
	t.Parallel()
	t.Run("claimed length", func(t *testing.T) {
		t.Parallel()
		addr, _ := startFake(t, func(w http.ResponseWriter, r *http.Request) {
			readRequest(t, r)
			grpcHeaders(w)
			w.Write([]byte{0, 0xff, 0xff, 0xff, 0xff, 'x'})
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		if err := streamOnce(t, Config{Servers: []string{addr}}); !errors.Is(err, errMessageTooLarge) {
			t.Fatalf("stream ended with %v, want %v", err, errMessageTooLarge)
		}
	})
	t.Run("grpc-go push over the limit", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl := &countingListener{Listener: ln}
		r := serveReplica(t, cl)
		r.srv.Set(resources(t, "1", meshSnapshot(t)))
		rec, logs := &recorder{}, &logSink{}
		run(t, Config{Node: "big", Servers: []string{r.addr}, Apply: rec.apply, MaxMessageBytes: 64,
			MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Logger: logs.logger()})
		waitFor(t, "three streams, each ended by the limit", func() bool {
			return cl.n.Load() >= 3 && logs.count(errMessageTooLarge.Error()) >= 3
		})
		if n := len(rec.all()); n != 0 {
			t.Fatalf("%d updates applied from messages over the limit", n)
		}
	})
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// A server that stops reading fills the stream's flow-control window
// while it still answers pings; the send must fail rather than block.
func TestSendIsBounded(t *testing.T) {
	t.Parallel()
	addr, _ := startFake(t, func(w http.ResponseWriter, r *http.Request) {
		grpcHeaders(w)
		<-r.Context().Done()
	})
	tr := newTransport(Config{KeepaliveInterval: 50 * time.Millisecond, KeepaliveTimeout: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := tr.open(ctx, addr, adsMethod)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	msg := make([]byte, 256<<10)
	for i := 0; ; i++ {
		err := s.send(msg)
		if err == nil {
			if ctx.Err() != nil || i > 1000 {
				t.Fatalf("%d sends to a server that reads nothing all succeeded", i+1)
			}
			continue
		}
		if !errors.Is(err, errSendTimeout) {
			t.Fatalf("send %d failed with %v, want %v", i, err, errSendTimeout)
		}
		return
	}
}

// With TLS set, the client verifies the server and speaks HTTP/2 only if
// the server agrees to it by ALPN.
func TestStreamOverTLS(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, h2 bool) (string, *x509.CertPool) {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil || r.ProtoMajor != 2 {
				t.Errorf("request over %s, tls %v", r.Proto, r.TLS != nil)
			}
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "reached over tls")
		}))
		s.EnableHTTP2 = h2
		s.StartTLS()
		t.Cleanup(s.Close)
		pool := x509.NewCertPool()
		pool.AddCert(s.Certificate())
		return s.Listener.Addr().String(), pool
	}
	t.Run("h2", func(t *testing.T) {
		t.Parallel()
		addr, pool := start(t, true)
		err := streamOnce(t, Config{Servers: []string{addr}, TLS: &tls.Config{RootCAs: pool}})
		wantStatus(t, err, 5, "reached over tls")
	})
	t.Run("server offering only http/1.1", func(t *testing.T) {
		t.Parallel()
		addr, pool := start(t, false)
		err := streamOnce(t, Config{Servers: []string{addr}, TLS: &tls.Config{RootCAs: pool}})
		if err == nil || !strings.Contains(err.Error(), "no application protocol") {
			t.Fatalf("stream ended with %v, want the handshake refused", err)
		}
	})
	t.Run("server without ALPN", func(t *testing.T) {
		t.Parallel()
		addr, pool := startPlainTLS(t)
		if err := streamOnce(t, Config{Servers: []string{addr}, TLS: &tls.Config{RootCAs: pool}}); !errors.Is(err, errNoH2) {
			t.Fatalf("stream ended with %v, want %v", err, errNoH2)
		}
	})
	t.Run("untrusted server", func(t *testing.T) {
		t.Parallel()
		addr, _ := start(t, true)
		var verr *tls.CertificateVerificationError
		if err := streamOnce(t, Config{Servers: []string{addr}, TLS: &tls.Config{}}); !errors.As(err, &verr) {
			t.Fatalf("stream ended with %v, want a certificate verification error", err)
		}
	})
}

// startPlainTLS serves TLS that negotiates no application protocol, as a
// server that knows nothing of ALPN does, and then holds the connection.
func startPlainTLS(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.StartTLS()
	cert := s.TLS.Certificates
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	s.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: cert})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.(*tls.Conn).Handshake()
				io.Copy(io.Discard, c) // until the client gives up
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String(), pool
}
