package mtls

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestResumptionAfterBundleChange: a client (any TLS implementation that
// resumes) whose session began under a root that has since left the
// server's bundle is refused, though Go would resume it with no
// certificate check of its own: VerifyConnection runs on resumption.
func TestResumptionAfterBundleChange(t *testing.T) {
	oldCA, newRoot := newCA(t, td), newCA(t, td)
	var srv, cli Source
	srv.Set(oldCA.leaf(t, apiSA, leafOpts{}))
	cli.Set(oldCA.leaf(t, webSA, leafOpts{}))
	var hs Handshakes
	addr := server(t, &srv, &hs)
	ours, _ := NewClients(&cli, &hs).For([]string{apiID})
	cfg := ours.Clone()
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	if _, err := dial(addr, cfg); err != nil {
		t.Fatal(err)
	}
	// A session ticket arrives after the handshake; a later connection
	// must resume, or this test proves nothing.
	var st tls.ConnectionState
	deadline := time.Now().Add(5 * time.Second)
	for !st.DidResume && time.Now().Before(deadline) {
		var err error
		if st, err = dial(addr, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if !st.DidResume || hs.Get(Server, Resumed) == 0 {
		t.Fatal("the session was never resumed")
	}
	before := hs.Get(Server, Refused)
	srv.SetBundle(withBundle(srv.Current(), newRoot).Bundle)
	if _, err := dial(addr, cfg); err == nil {
		t.Fatal("a session of the withdrawn root was resumed")
	}
	deadline = time.Now().Add(5 * time.Second)
	for hs.Get(Server, Refused) == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if hs.Get(Server, Refused) != before+1 {
		t.Errorf("server refused %d, want %d", hs.Get(Server, Refused), before+1)
	}
}

// TestClientNeverResumes: the sidecar's own client makes full handshakes,
// so a server certificate is always checked as it is now.
func TestClientNeverResumes(t *testing.T) {
	ca := newCA(t, td)
	var srv, cli Source
	srv.Set(ca.leaf(t, apiSA, leafOpts{}))
	cli.Set(ca.leaf(t, webSA, leafOpts{}))
	addr := server(t, &srv, nil)
	cfg, _ := NewClients(&cli, nil).For([]string{apiID})
	for range 3 {
		st, err := dial(addr, cfg)
		if err != nil || st.DidResume {
			t.Fatalf("err %v, resumed %v", err, st.DidResume)
		}
	}
}

// TestRotationUnderLoad rotates leaves every few milliseconds and then the
// root (old root, then both, then new leaves, then new root alone) while
// clients send requests over real TLS on loopback, half on fresh
// connections: no request may fail, and the configs are never rebuilt.
func TestRotationUnderLoad(t *testing.T) {
	caA, caB := newCA(t, td), newCA(t, td)
	var srv, cli Source
	srv.Set(caA.leaf(t, apiSA, leafOpts{}))
	cli.Set(caA.leaf(t, webSA, leafOpts{}))
	var hs Handshakes
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(&srv, &hs))
	if err != nil {
		t.Fatal(err)
	}
	hsrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.TLS.PeerCertificates[0].URIs[0].String()))
	})}
	go hsrv.Serve(ln)
	defer hsrv.Close()
	cfg, _ := NewClients(&cli, &hs).For([]string{apiID})
	pooled := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 4}
	fresh := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer pooled.CloseIdleConnections()
	url := "https://" + ln.Addr().String() + "/"

	var sent, failed atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 4 {
		tr := pooled
		if i%2 == 1 {
			tr = fresh
		}
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := c.Get(url)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					t.Log(err)
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	step := func(d time.Duration, f func()) {
		f()
		time.Sleep(d) // load runs meanwhile; the counters, not the sleep, are the check
	}
	for range 10 {
		step(20*time.Millisecond, func() {
			srv.Set(caA.leaf(t, apiSA, leafOpts{}))
			cli.Set(caA.leaf(t, webSA, leafOpts{}))
		})
	}
	step(50*time.Millisecond, func() { srv.SetBundle(withBundle(srv.Current(), caA, caB).Bundle) })
	step(50*time.Millisecond, func() { cli.SetBundle(withBundle(cli.Current(), caA, caB).Bundle) })
	step(50*time.Millisecond, func() { srv.Set(withBundle(caB.leaf(t, apiSA, leafOpts{}), caA, caB)) })
	step(50*time.Millisecond, func() { cli.Set(withBundle(caB.leaf(t, webSA, leafOpts{}), caA, caB)) })
	step(50*time.Millisecond, func() { srv.SetBundle(withBundle(srv.Current(), caB).Bundle) })
	step(50*time.Millisecond, func() { cli.SetBundle(withBundle(cli.Current(), caB).Bundle) })
	for range 10 {
		step(20*time.Millisecond, func() {
			srv.Set(withBundle(caB.leaf(t, apiSA, leafOpts{}), caB))
			cli.Set(withBundle(caB.leaf(t, webSA, leafOpts{}), caB))
		})
	}
	stop()
	wg.Wait()
	if sent.Load() < 50 {
		t.Fatalf("only %d requests sent", sent.Load())
	}
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across rotations", failed.Load(), sent.Load())
	}
	full, resumed := hs.Get(Server, OK), hs.Get(Server, Resumed)
	t.Logf("%d requests, server handshakes: %d full, %d resumed, %d refused", sent.Load(), full, resumed, hs.Get(Server, Refused))
	// After the roots changed, every new connection must carry a leaf of
	// the new root: check one.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.ConnectionState().PeerCertificates[0].CheckSignatureFrom(caB.cert); err != nil {
		t.Errorf("server leaf after rotation not from the new root: %v", err)
	}
}
