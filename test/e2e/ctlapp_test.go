package e2e

import (
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// ctlApp is a catalog app in the test process whose behaviour a test
// sets while it runs: a delay before answering, a status to answer with.
// It counts the requests it gets (probes on /healthz aside), which is how
// tests count upstream attempts.
type ctlApp struct {
	addr   string
	served atomic.Int64
	delay  atomic.Int64 // ns to wait before answering
	status atomic.Int64 // 0 answers 200 with the app's name
}

func startCtlApp(t *testing.T, name string) *ctlApp {
	t.Helper()
	a := &ctlApp{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.addr = ln.Addr().String()
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		a.served.Add(1)
		if d := time.Duration(a.delay.Load()); d > 0 {
			select { // the app's work, cut short when the caller gives up
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if s := a.status.Load(); s != 0 {
			http.Error(w, "failing on purpose", int(s))
			return
		}
		fmt.Fprintf(w, "%s\n", name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return a
}
