package proxy

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/proxy/retry"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// forward relays one request to an HTTP/1.1 endpoint and its response
// back, retrying failed tries as the route's policy and the cluster's
// budget allow. Once a response head is relayed the request is committed.
func (hc *h1conn) forward(cl *cluster.Cluster, ep *cluster.Endpoint, rt *route.Route, query []byte, start time.Time) bool {
	h, req := hc.h, &hc.req
	pol := rt.Retry
	if pol == nil {
		pol = retry.Default
	}
	cl.Budget.Request(start.UnixNano())
	hc.continued = false // replaying: reset per request by serve; a mirror may have kept the body
	// afterSend: a try that sent the request may be retried (connect
	// failures always may: they sent nothing).
	afterSend := pol.Attempts > 0 && pol.On&^retry.ConnectFailure != 0 && (pol.AnyMethod || retry.Idempotent(req.Method))
	if pol == retry.Default && req.HasBody() {
		afterSend = false // the default keeps no bodies
	}
	if afterSend && req.HasBody() {
		ok, err := hc.bufferBody()
		if err != nil {
			return hc.reject(telemetry.FlagDownstreamProtocolError, 400, upstreamWords(telemetry.FlagDownstreamProtocolError), nil, cl.Config.Name, rt.Name, start)
		}
		afterSend = ok
	}
	canResend := (!req.HasBody() || hc.replaying) && retry.Idempotent(req.Method)
	hc.peerFlags = trustPeerFlags(h.cfg.Direction, cl)
	hc.markUpstream()
	for tries := 0; ; tries++ {
		began := ep.Begin()
		uc, out, err := hc.try(cl, ep, query, pol.PerTryTimeout, canResend)
		if err == nil {
			if po := peerOutcome(hc.resp.Headers); po != retry.OK && tries < pol.Attempts && pol.Failure(po) &&
				(hc.peerFlags || retry.Idempotent(req.Method)) && (!req.HasBody() || hc.replaying) && (po == retry.Connect || afterSend) {
				// The peer sidecar could not reach its app, or lost it
				// before a response: the same failure one hop on. A peer
				// not proven by mTLS is believed for idempotent requests
				// only: a false claim costs one budgeted retry.
				if next := pickOther(cl, ep, hc.next(), hc); (next != ep || pol != retry.Default) && hc.mayRetry(cl, pol, tries, po, -1) {
					hc.up.Store(nil)
					ep.Pool.Discard(uc)
					ep.EndStatus(began, hc.resp.Status)
					ep = next
					continue
				}
			}
			if tries < pol.Attempts && afterSend && hc.resp.Status != 101 && pol.RetriesStatus(hc.resp.Status, h1GRPCStatus(&hc.resp)) {
				if wait, ok := retryAfterWait(pol, &hc.resp); ok && hc.mayRetry(cl, pol, tries, retry.Status, wait) {
					hc.up.Store(nil)
					ep.Pool.Discard(uc) // its unread body is not worth draining
					ep.EndStatus(began, hc.resp.Status)
					ep = pickOther(cl, ep, hc.next(), hc)
					continue
				}
			}
			hc.endRetries(cl)
			return hc.relay(uc, ep, began, cl, rt, start)
		}
		switch {
		case errors.Is(err, errPendingOverflow):
			ep.Abandon(began)
			hc.endRetries(cl)
			return hc.overflow(cl, rt, breaker.Pending, start)
		case errors.Is(err, upstream.ErrConnOverflow):
			ep.Abandon(began)
			hc.endRetries(cl)
			return hc.overflow(cl, rt, breaker.Connections, start)
		case errors.Is(err, upstream.ErrPoolFull):
			ep.Abandon(began) // this proxy's cap, not the endpoint's failure
		default:
			ep.End(began, true)
		}
		retriable := out == retry.Connect && !errors.Is(err, upstream.ErrPoolFull) || afterSend && out != retry.OK
		if tries < pol.Attempts && retriable && pol.Failure(out) {
			// The default policy only moves a request to another instance.
			if next := pickOther(cl, ep, hc.next(), hc); (next != ep || pol != retry.Default) && hc.mayRetry(cl, pol, tries, out, -1) {
				ep = next
				continue
			}
		}
		f, code := flagForUpstreamH1(err, hc.expired.Load() > 0)
		switch {
		case out == retry.TryTimeout:
			f, code = telemetry.FlagUpstreamTimeout, 504
		case tries > 0 && pol != retry.Default && code != 400 && f != telemetry.FlagUpstreamOverflow && hc.expired.Load() == 0:
			f, code = telemetry.FlagRetryLimitExceeded, 503
		}
		hc.endRetries(cl)
		h.log.Debug("upstream request failed", "endpoint", ep.Address, "err", err, "status", code, "retries", tries)
		closeConn := true
		if out == retry.Connect && !req.HasBody() {
			closeConn = false // nothing of the request is left unread
		}
		hc.meshAnswered(f, code, upstreamWords(f), nil, cl.Config.Name, rt.Name, time.Since(start), closeConn)
		if code == 400 {
			hc.lingerClose()
		}
		return !closeConn && !req.Close && !h.draining.Load()
	}
}

// relay sends the response whose head was read on uc to the client.
func (hc *h1conn) relay(uc *upstream.Conn, ep *cluster.Endpoint, began time.Time, cl *cluster.Cluster, rt *route.Route, start time.Time) bool {
	resp := &hc.resp
	if resp.Status == 101 {
		return hc.upgraded(uc, ep, began, cl, rt, start)
	}
	keep, upOK := hc.relayResponse(uc)
	hc.up.Store(nil)
	if upOK {
		ep.Pool.Put(uc)
	} else {
		ep.Pool.Discard(uc)
	}
	ep.EndStatus(began, resp.Status)
	hc.destination(cl, ep)
	if hc.rec.Protocol == telemetry.ProtocolGRPC {
		hc.rec.GRPCStatus = h1GRPCStatus(resp)
	}
	hc.observe(resp.Status, telemetry.FlagNone, time.Since(start))
	hc.finishTrace(resp.Status, telemetry.FlagNone, cl.Config.Name, ep.Address, start)
	return keep
}

// try runs one try on ep: a connection, the request, the response head.
// A pooled connection that turns out closed before any response byte is
// replaced once by a fresh one when the request can be sent again, as
// net/http's transport does. The outcome says how a failed try failed;
// retry.OK with an error is a failure no policy retries.
func (hc *h1conn) try(cl *cluster.Cluster, ep *cluster.Endpoint, query []byte, perTry time.Duration, canResend bool) (*upstream.Conn, retry.Outcome, error) {
	if !cl.Breaker.Acquire(breaker.Pending) {
		return nil, retry.OK, errPendingOverflow
	}
	uc, err := ep.Pool.Get(context.Background())
	cl.Breaker.Release(breaker.Pending)
	if err != nil {
		if errors.Is(err, upstream.ErrConnOverflow) {
			return nil, retry.OK, err // the breaker's answer, not retried
		}
		return nil, retry.Connect, err
	}
	if hc.req.ExpectContinue && !hc.continued {
		// The proxy answers 100 itself once it has an upstream, then streams
		// the body (Envoy's default); the upstream sees no Expect header.
		hc.continued = true
		hc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		hc.bw.Flush()
	}
	for fresh := false; ; fresh = true {
		hc.up.Store(uc)
		if perTry > 0 {
			uc.Conn.SetReadDeadline(time.Now().Add(perTry))
		}
		err = hc.sendRequest(uc, query)
		if err == nil {
			err = hc.resp.Read(uc.R, hc.h.lim)
			for err == nil && hc.resp.Status >= 100 && hc.resp.Status < 200 && hc.resp.Status != 101 {
				err = hc.resp.Read(uc.R, hc.h.lim) // 100 and 103 are not relayed
			}
		}
		if err == nil {
			if perTry > 0 {
				uc.Conn.SetReadDeadline(time.Time{})
			}
			return uc, retry.OK, nil
		}
		hc.up.Store(nil)
		ep.Pool.Discard(uc)
		timedOut := perTry > 0 && errors.Is(err, os.ErrDeadlineExceeded) && hc.expired.Load() == 0
		if !fresh && uc.Reused && canResend && !timedOut && hc.expired.Load() == 0 && isClosed(err) {
			if uc, err = ep.Pool.Fresh(context.Background()); err == nil {
				continue
			}
			return nil, retry.Connect, err
		}
		switch {
		case timedOut:
			return nil, retry.TryTimeout, err
		case errors.Is(err, errClientBody) || hc.expired.Load() > 0:
			return nil, retry.OK, err
		case isClosed(err):
			return nil, retry.ResetBefore, err
		}
		return nil, retry.OK, err
	}
}

// bufferBody reads a request body of known length up to retry.BodyCap
// into hc.replay so a retry can send it again. It reports false, reading
// nothing, for bodies it does not keep (chunked, too large, or awaiting a
// 100 Continue).
func (hc *h1conn) bufferBody() (bool, error) {
	req := &hc.req
	if hc.replaying {
		return true, nil // already kept (for a mirror)
	}
	n := req.ContentLength
	if req.Chunked || req.ExpectContinue || n <= 0 || n > retry.BodyCap {
		return false, nil
	}
	if int64(cap(hc.replay)) < n {
		hc.replay = make([]byte, n) // kept for the connection's later requests
	}
	hc.replay = hc.replay[:n]
	if _, err := io.ReadFull(hc.br, hc.replay); err != nil {
		return false, err
	}
	hc.replaying = true
	return true, nil
}

// errPendingOverflow is the breaker's pending-requests cap refusing a try.
var errPendingOverflow = errors.New("upstream: pending requests limit reached")

// mayRetry decides a retry the policy allows: the request must have time
// left, the cluster's breaker room for one more retrying request, and its
// budget a retry to spare. It counts the retry and waits out the backoff
// (or the upstream's Retry-After, wait >= 0).
func (hc *h1conn) mayRetry(cl *cluster.Cluster, pol *retry.Policy, tries int, why retry.Outcome, wait time.Duration) bool {
	if hc.expired.Load() > 0 {
		return false
	}
	now := time.Now()
	if wait < 0 {
		wait = pol.Delay(tries, hc.next()>>1)
	}
	if d := hc.deadline.Load(); d != 0 && now.Add(wait).UnixNano() >= d {
		return false
	}
	m := hc.h.cfg.Metrics
	took := false
	if !hc.retryHeld {
		if !cl.Breaker.Acquire(breaker.Retries) {
			m.Overflow(cl.Config.Name, breaker.Retries.String())
			return false
		}
		hc.retryHeld, took = true, true
	}
	if !cl.Budget.Withdraw(now.UnixNano()) {
		if took {
			hc.endRetries(cl)
		}
		m.RetryBudgetExhausted(cl.Config.Name)
		return false
	}
	m.Retry(cl.Config.Name, why.Reason())
	if wait > 0 {
		time.Sleep(wait) // bounded above by the request's deadline
	}
	return true
}

// endRetries releases the breaker's Retries unit the request holds, if
// any: its tries are over.
func (hc *h1conn) endRetries(cl *cluster.Cluster) {
	if hc.retryHeld {
		cl.Breaker.Release(breaker.Retries)
		hc.retryHeld = false
	}
}

// retryAfterWait is how long to wait before retrying a response: -1 for
// the policy's backoff, or its Retry-After when the policy honours it.
// ok is false when that Retry-After is longer than the policy accepts.
func retryAfterWait(pol *retry.Policy, resp *h1.Response) (time.Duration, bool) {
	if pol.RetryAfterMax <= 0 {
		return -1, true
	}
	for _, f := range resp.Headers {
		if h1.EqualFold(f.Name, "retry-after") {
			if s, ok := retry.ParseRetryAfter(f.Value); ok {
				d := time.Duration(s) * time.Second
				return d, d <= pol.RetryAfterMax
			}
		}
	}
	return -1, true
}

// h1GRPCStatus is a response's grpc-status header (gRPC-Web, or a
// trailers-only gRPC answer), or -1.
func h1GRPCStatus(resp *h1.Response) int {
	for _, f := range resp.Headers {
		if h1.EqualFold(f.Name, "grpc-status") {
			if n, ok := retry.ParseRetryAfter(f.Value); ok { // a small decimal too
				return n
			}
		}
	}
	return -1
}

// peerOutcome classifies a peer sidecar's own answer: Connect when it
// could not connect to its app (flag UF, or UH: no app instance),
// ResetBefore when the app's connection broke before a response (UC, UR),
// else OK.
func peerOutcome(hs []h1.Header) retry.Outcome {
	for _, f := range hs {
		if h1.EqualFold(f.Name, "x-weft-response-flags") { // telemetry.ResponseFlagsHeader, lowercase as EqualFold wants
			return peerFlagOutcome(string(f.Value))
		}
	}
	return retry.OK
}

func peerFlagOutcome(flag string) retry.Outcome {
	switch flag {
	case "UF", "UH":
		return retry.Connect
	case "UC", "UR":
		return retry.ResetBefore
	}
	return retry.OK
}
