package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/mtls"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/listener"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// benchSVIDs makes a root and two workload SVIDs (client, server) of it.
func benchSVIDs(b *testing.B) (cli, srv *mtls.SVID) {
	b.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, URIs: []*url.URL{{Scheme: "spiffe", Host: "weft.local"}}}
	rootDER, _ := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	root, _ := x509.ParseCertificate(rootDER)
	leaf := func(n int64, sa string) *mtls.SVID {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		id := "spiffe://weft.local/ns/default/sa/" + sa
		u, _ := url.Parse(id)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(n), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			URIs: []*url.URL{u}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, root, &key.PublicKey, rootKey)
		if err != nil {
			b.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return &mtls.SVID{Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, ID: id, Bundle: []*x509.Certificate{root}}
	}
	return leaf(2, "frontend"), leaf(3, "catalog")
}

// BenchmarkHTTP1TwoHop is two sidecars in one process: an outbound engine,
// then an inbound listener and engine, then the raw upstream, with the hop
// between them plaintext or mesh mTLS (pooled, so one handshake). ns/op is
// the sequential round trip; cpu-ns/op is the whole process's CPU per
// request (client and upstream included), read from getrusage, so the two
// variants compare in one run.
func BenchmarkHTTP1TwoHop(b *testing.B) {
	for _, withTLS := range []bool{false, true} {
		name := "plaintext"
		if withTLS {
			name = "mtls"
		}
		b.Run(name, func(b *testing.B) {
			up := rawUpstream(b)
			var srvTLS, cliTLS *tls.Config
			if withTLS {
				cli, srv := benchSVIDs(b)
				var cs, ss mtls.Source
				cs.Set(cli)
				ss.Set(srv)
				srvTLS = mtls.ServerConfig(&ss, nil)
				var err error
				if cliTLS, err = mtls.NewClients(&cs, nil).For([]string{srv.ID}); err != nil {
					b.Fatal(err)
				}
			}
			in := NewHTTP1(HTTP1Config{Name: "in", Direction: "inbound", Runtime: newRuntime(&testing.T{}, up, cluster.HTTP1, 0)})
			lc := listener.Config{Name: "in", Addr: "127.0.0.1:0", HTTP1: in, HTTP2: in, TLS: srvTLS}
			if withTLS {
				lc.MeshMode = func() listener.MeshTLS { return listener.MeshStrict }
			}
			l, err := listener.New(lc)
			if err != nil {
				b.Fatal(err)
			}
			go l.Serve(context.Background())
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				l.Shutdown(ctx)
			})
			out := &Runtime{}
			tbl, _ := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{Name: "all", Domains: []string{"*"},
				Routes: []route.Route{{Name: "r", Backends: []route.Backend{{Cluster: "up"}}}}}}})
			set, err := cluster.NewSet([]cluster.Config{{Name: "up", Protocol: cluster.HTTP1, TLS: cliTLS, PeerIDs: peerIDs(withTLS),
				Endpoints: []cluster.EndpointConfig{{Address: l.Addr().String(), MTLS: withTLS}}}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			out.Store(&State{Version: "1", Routes: tbl, Clusters: set})
			b.Cleanup(func() { cluster.Retire(out.Load().Clusters, nil) })
			var before syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			benchHTTP1(b, out)
			var after syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

func peerIDs(on bool) []string {
	if on {
		return []string{"spiffe://weft.local/ns/default/sa/catalog"}
	}
	return nil
}
