// Package mirror sends shadow copies of requests (Gateway API's
// RequestMirror, Envoy's request_mirror_policies): asynchronously, with
// their responses discarded, so a mirror never delays or fails the request
// it copies. Each cluster has a bounded number of copies in flight; a copy
// that finds the bound reached is dropped and counted, never queued.
package mirror

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// Results, as the metric's result label names them.
const (
	Sent    = "sent"    // the copy got a response (any status)
	Dropped = "dropped" // not sent: the cluster's bound was reached, the body too large, or no such cluster
	Failed  = "failed"  // sent but no response: connect failure, reset, timeout
)

// BodyCap is the largest request body copied; requests with larger (or
// unknown-length) bodies are not mirrored.
const BodyCap = 64 << 10

// maxDiscard bounds the response body read (and thrown away) to keep a
// connection reusable; a longer one closes the connection instead.
const maxDiscard = 256 << 10

// Config tunes a Sender. Zero values are safe defaults.
type Config struct {
	// MaxInFlight caps the copies in flight to one cluster. Zero means 64.
	MaxInFlight int
	// Timeout bounds one copy, connect to the end of its response. Zero
	// means 5s.
	Timeout time.Duration
	// Observe, when set, hears each copy's result (Sent, Dropped, Failed).
	Observe func(result string)
	Logger  *slog.Logger
}

// Request is a copy of a request, detached from it: the sender keeps it
// after the request is done.
type Request struct {
	Method string
	// Host is the authority the copy carries (already suffixed -shadow).
	Host string
	// Target is the path and query ("/a?b=1").
	Target string
	// Header are the headers forwarded, without hop-by-hop ones and
	// without Host, Content-Length and Transfer-Encoding.
	Header http.Header
	Body   []byte
}

// Sender sends copies. It is safe for concurrent use.
type Sender struct {
	cfg      Config
	inflight sync.Map // cluster name -> *atomic.Int64
	wg       sync.WaitGroup
}

// New returns a Sender.
func New(cfg Config) *Sender {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Sender{cfg: cfg}
}

// Drop counts a copy not made (no cluster, body too large).
func (s *Sender) Drop() { s.observe(Dropped) }

// Send starts sending r to an endpoint of cl and returns at once. It
// reports false when the copy was dropped because cl has MaxInFlight
// copies in flight already.
func (s *Sender) Send(cl *cluster.Cluster, r *Request) bool {
	n := s.counter(cl.Config.Name)
	if n.Add(1) > int64(s.cfg.MaxInFlight) {
		n.Add(-1)
		s.observe(Dropped)
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer n.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		if err := s.send(ctx, cl, r); err != nil {
			s.cfg.Logger.Debug("mirror failed", "cluster", cl.Config.Name, "err", err)
			s.observe(Failed)
			return
		}
		s.observe(Sent)
	}()
	return true
}

// InFlight reports the copies in flight to the named cluster.
func (s *Sender) InFlight(name string) int64 { return s.counter(name).Load() }

// Wait blocks until every copy started has ended, or ctx ends.
func (s *Sender) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sender) counter(name string) *atomic.Int64 {
	v, ok := s.inflight.Load(name)
	if !ok {
		v, _ = s.inflight.LoadOrStore(name, new(atomic.Int64))
	}
	return v.(*atomic.Int64)
}

func (s *Sender) observe(result string) {
	if s.cfg.Observe != nil {
		s.cfg.Observe(result)
	}
}

var errNoEndpoint = errors.New("no healthy endpoint")

func (s *Sender) send(ctx context.Context, cl *cluster.Cluster, r *Request) error {
	ep := cl.Pick(0, false)
	if ep == nil {
		return errNoEndpoint
	}
	if ep.H2 != nil && (cl.Config.Protocol == cluster.HTTP2 || ep.Pool == nil) {
		return s.sendH2(ctx, ep, r)
	}
	if ep.Pool == nil {
		return errNoEndpoint
	}
	uc, err := ep.Pool.Get(ctx)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	uc.Conn.SetDeadline(deadline)
	ok := false
	defer func() {
		if ok {
			uc.Conn.SetDeadline(time.Time{})
			ep.Pool.Put(uc)
		} else {
			ep.Pool.Discard(uc)
		}
	}()
	w := uc.W
	w.WriteString(r.Method)
	w.WriteByte(' ')
	w.WriteString(r.Target)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(r.Host)
	w.WriteString("\r\n")
	for k, vs := range r.Header {
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if len(r.Body) > 0 || r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH" {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.Itoa(len(r.Body)))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(r.Body)
	if err := w.Flush(); err != nil {
		return err
	}
	resp, err := http.ReadResponse(uc.R, &http.Request{Method: r.Method})
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxDiscard+1))
	resp.Body.Close()
	ok = err == nil && n <= maxDiscard && !resp.Close
	return err
}

func (s *Sender) sendH2(ctx context.Context, ep *cluster.Endpoint, r *Request) error {
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+ep.Address+r.Target, bytes.NewReader(r.Body))
	if err != nil {
		return err
	}
	req.Host = r.Host
	req.Header = r.Header
	req.ContentLength = int64(len(r.Body))
	resp, err := ep.H2.RoundTrip(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDiscard))
	resp.Body.Close()
	return err
}

// ShadowHost is Envoy's shadow authority: -shadow appended to the host,
// before any port ("catalog:80" becomes "catalog-shadow:80").
func ShadowHost(authority string) string {
	i := len(authority) - 1
	for i >= 0 && authority[i] >= '0' && authority[i] <= '9' {
		i--
	}
	if i >= 0 && i < len(authority)-1 && authority[i] == ':' && (authority[0] != '[' || i > 0 && authority[i-1] == ']') {
		return authority[:i] + "-shadow" + authority[i:]
	}
	return authority + "-shadow"
}
