package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/retry"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// h2Result is the outcome of the tries of one HTTP/2 request.
type h2Result struct {
	resp  *http.Response
	ep    *cluster.Endpoint // the endpoint of the last try
	began time.Time
	stop  func() // releases the last try's per-try timer; call when done
	flag  telemetry.Flag
	code  int
	// overflow: a circuit breaker cap (kind) refused the try.
	overflow bool
	kind     breaker.Kind
}

// tries sends r to cl, starting on ep, retrying as the route's policy and
// the cluster's budget allow. It returns the response to relay, or the
// flag and status of the mesh's answer when there is none.
func (h *HTTP2) tries(ctx context.Context, r *http.Request, cl *cluster.Cluster, ep *cluster.Endpoint, rt *route.Route, path, query string, start time.Time) (res h2Result) {
	pol := rt.Retry
	if pol == nil {
		pol = retry.Default
	}
	cl.Budget.Request(start.UnixNano())
	afterSend := pol.Attempts > 0 && pol.On&^retry.ConnectFailure != 0 && (pol.AnyMethod || retry.Idempotent([]byte(r.Method)))
	var body *teeBody // set on the first try, from the body outbound built
	deadline, _ := ctx.Deadline()
	var retryHeld bool // a unit of the breaker's Retries cap, from the first retry on
	defer func() {
		if retryHeld {
			cl.Breaker.Release(breaker.Retries)
		}
	}()
	for tries := 0; ; tries++ {
		tctx, cancel := context.WithCancel(ctx)
		var timedOut atomic.Bool
		var timer *time.Timer
		if pol.PerTryTimeout > 0 {
			timer = time.AfterFunc(pol.PerTryTimeout, func() { timedOut.Store(true); cancel() })
		}
		out := h.outbound(tctx, r, ep.Address, path, query)
		h2ApplyMods(out.Header, rt.RequestHeaders)
		setGRPCTimeout(out.Header, r.Header, deadline)
		if body == nil && out.Body != nil && out.Body != http.NoBody {
			body = &teeBody{src: out.Body, keep: afterSend}
		}
		if body != nil {
			out.Body = body.reader()
		}
		res.ep, res.began = ep, ep.Begin()
		resp, err := h.roundTrip(cl, ep, out)
		if timer != nil {
			timer.Stop() // the head arrived (or the try failed): the body streams on
		}
		var why retry.Outcome
		if err == nil {
			if po := peerFlagOutcome(resp.Header.Get(telemetry.ResponseFlagsHeader)); po != retry.OK && tries < pol.Attempts && pol.Failure(po) &&
				(trustPeerFlags(h.cfg.Direction, cl) || retry.Idempotent([]byte(r.Method))) && body.replayable() && (po == retry.Connect || afterSend && (pol != retry.Default || body == nil)) {
				// The peer sidecar could not reach its app, or lost it
				// before a response: the same failure one hop on.
				if next := pickOtherH2(cl, ep, r); (next != ep || pol != retry.Default) && h.mayRetry(cl, pol, tries, po, -1, deadline, &retryHeld) {
					resp.Body.Close()
					cancel()
					ep.EndStatus(res.began, resp.StatusCode)
					ep = next
					continue
				}
			}
			if tries < pol.Attempts && afterSend && body.replayable() && pol.RetriesStatus(resp.StatusCode, h2GRPCStatus(resp)) {
				if wait, ok := h2RetryAfter(pol, resp); ok && h.mayRetry(cl, pol, tries, retry.Status, wait, deadline, &retryHeld) {
					resp.Body.Close()
					cancel()
					ep.EndStatus(res.began, resp.StatusCode)
					ep = pickOtherH2(cl, ep, r)
					continue
				}
			}
			res.resp, res.stop = resp, cancel
			return res
		}
		cancel()
		if errors.Is(err, upstream.ErrConnOverflow) {
			ep.Abandon(res.began)
			res.overflow, res.kind = true, breaker.Connections
			return res
		}
		if errors.Is(err, errNoCapacity) || errors.Is(err, upstream.ErrPoolFull) {
			ep.Abandon(res.began) // this proxy's cap, not the endpoint's failure
		} else {
			ep.End(res.began, true)
		}
		res.flag, res.code = flagForUpstreamH2(err, ctxErrNear(ctx))
		switch {
		case timedOut.Load() && ctx.Err() == nil:
			why, res.flag, res.code = retry.TryTimeout, telemetry.FlagUpstreamTimeout, 504
		case res.flag == telemetry.FlagUpstreamConnectFailure:
			why = retry.Connect
		case res.flag == telemetry.FlagUpstreamReset || res.flag == telemetry.FlagUpstreamConnTermination:
			why = retry.ResetBefore
		}
		sent := why != retry.Connect
		if tries < pol.Attempts && why != retry.OK && pol.Failure(why) && (!sent || afterSend) && body.untouchedOrKept() {
			if next := pickOtherH2(cl, ep, r); (next != ep || pol != retry.Default) && h.mayRetry(cl, pol, tries, why, -1, deadline, &retryHeld) {
				ep = next
				continue
			}
		}
		if tries > 0 && pol != retry.Default && ctx.Err() == nil && why != retry.TryTimeout && res.flag != telemetry.FlagUpstreamOverflow {
			res.flag, res.code = telemetry.FlagRetryLimitExceeded, 503
		}
		h.log.Debug("upstream request failed", "cluster", cl.Config.Name, "endpoint", ep.Address, "err", err, "retries", tries)
		return res
	}
}

// mayRetry is the HTTP/2 engine's h1conn.mayRetry; *held says whether
// the request holds a unit of the breaker's Retries cap.
func (h *HTTP2) mayRetry(cl *cluster.Cluster, pol *retry.Policy, tries int, why retry.Outcome, wait time.Duration, deadline time.Time, held *bool) bool {
	now := time.Now()
	if wait < 0 {
		wait = pol.Delay(tries, rand.Uint64()>>1)
	}
	if !deadline.IsZero() && !now.Add(wait).Before(deadline) {
		return false
	}
	took := false
	if !*held {
		if !cl.Breaker.Acquire(breaker.Retries) {
			h.cfg.Metrics.Overflow(cl.Config.Name, breaker.Retries.String())
			return false
		}
		*held, took = true, true
	}
	if !cl.Budget.Withdraw(now.UnixNano()) {
		if took {
			cl.Breaker.Release(breaker.Retries)
			*held = false
		}
		h.cfg.Metrics.RetryBudgetExhausted(cl.Config.Name)
		return false
	}
	h.cfg.Metrics.Retry(cl.Config.Name, why.Reason())
	if wait > 0 {
		time.Sleep(wait)
	}
	return true
}

func pickOtherH2(cl *cluster.Cluster, failed *cluster.Endpoint, r *http.Request) *cluster.Endpoint {
	return pickOther(cl, failed, rand.Uint64(), h2Hasher{r})
}

type h2Hasher struct{ r *http.Request }

func (hh h2Hasher) hashKey(cl *cluster.Cluster) (uint64, bool) { return requestHash(cl, hh.r) }

// h2GRPCStatus is a trailers-only response's grpc-status, or -1.
func h2GRPCStatus(resp *http.Response) int {
	if n, err := strconv.Atoi(resp.Header.Get("Grpc-Status")); err == nil {
		return n
	}
	return -1
}

func h2RetryAfter(pol *retry.Policy, resp *http.Response) (time.Duration, bool) {
	if pol.RetryAfterMax <= 0 {
		return -1, true
	}
	if s, ok := retry.ParseRetryAfter([]byte(resp.Header.Get("Retry-After"))); ok {
		d := time.Duration(s) * time.Second
		return d, d <= pol.RetryAfterMax
	}
	return -1, true
}

// setGRPCTimeout rewrites a gRPC request's grpc-timeout to the time left
// before deadline, so each hop's deadline shrinks by the time spent
// before it (as gRPC clients do when they propagate a deadline).
func setGRPCTimeout(out, in http.Header, deadline time.Time) {
	if in.Get("Grpc-Timeout") == "" || deadline.IsZero() {
		return
	}
	// Microseconds below 100 s: truncating to milliseconds set the next
	// hop's deadline up to 1 ms before its caller's, so an upstream could
	// give up (and answer its own status) before the client's deadline.
	left := max(time.Until(deadline), time.Microsecond)
	if us := left.Microseconds(); us < 1e8 {
		out.Set("Grpc-Timeout", strconv.FormatInt(max(us, 1), 10)+"u")
	} else if ms := left.Milliseconds(); ms < 1e8 {
		out.Set("Grpc-Timeout", strconv.FormatInt(ms, 10)+"m")
	} else {
		out.Set("Grpc-Timeout", strconv.FormatInt(min(int64(left/time.Second), 99999999), 10)+"S")
	}
}

// teeBody sends a request body upstream and, when keep is set, keeps a
// copy of up to retry.BodyCap bytes so a retry can send it again.
type teeBody struct {
	src       io.ReadCloser
	keep      bool
	buf       []byte
	read      int64
	eof, over bool
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.src.Read(p)
	t.read += int64(n)
	if t.keep && !t.over {
		if len(t.buf)+n > retry.BodyCap {
			t.over, t.buf = true, nil
		} else {
			t.buf = append(t.buf, p[:n]...)
		}
	}
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

// reader is the body of the next try: the source when nothing of it was
// read yet, else the kept copy.
func (t *teeBody) reader() io.ReadCloser {
	if t.read == 0 {
		return io.NopCloser(t) // the transport must not close the client's body
	}
	return io.NopCloser(bytes.NewReader(t.buf))
}

// replayable: the whole body was read and kept (or there is none).
func (t *teeBody) replayable() bool {
	return t == nil || t.read == 0 || t.eof && t.keep && !t.over
}

func (t *teeBody) untouchedOrKept() bool { return t.replayable() }
