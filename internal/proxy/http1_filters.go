package proxy

import (
	"errors"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/ratelimit"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// filter runs rt's filters on the request before an upstream is picked:
// the rate limit first (a refused request costs nothing more), then fault
// injection. done reports that the request was answered here; keep then
// says whether the connection carries another.
func (hc *h1conn) filter(rt *route.Route, start time.Time) (keep, done bool) {
	if b := rt.Bucket(); b != nil {
		if ok, wait := b.Allow(ratelimit.Now(start)); !ok {
			return hc.meshAnswer(429, telemetry.FlagRateLimited, false, ratelimit.RetryAfter(wait), rt, start), true
		}
	}
	f := rt.Fault
	if f == nil {
		return false, false
	}
	d := f.Decide(hc.next())
	if d.Delay > 0 {
		if code := hc.delay(rt, d.Delay, start); code != 0 {
			if code < 0 {
				return false, true // the client went away
			}
			hc.reject(telemetry.FlagDelayInjected, code, "request timeout during injected delay", nil, "", rt.Name, start)
			return false, true
		}
	}
	if d.Abort {
		return hc.meshAnswer(f.Status(), telemetry.FlagFaultInjected, d.Delay > 0, 0, rt, start), true
	}
	return false, false
}

// delay holds the request for d, bounded by its timeout. It returns 0 when
// the request goes on, 504 when the timeout came first, and -1 when the
// client closed the connection meanwhile.
func (hc *h1conn) delay(rt *route.Route, d time.Duration, start time.Time) int {
	timeout := rt.Timeout
	if timeout <= 0 {
		timeout = hc.h.cfg.RequestTimeout
	}
	// The sweeper enforces the deadline while the request waits: it
	// interrupts the read below and marks the request expired.
	if rt.Timeout > 0 {
		hc.h.noteTimeout(rt.Timeout)
	}
	hc.deadline.Store(start.Add(timeout).UnixNano())
	wake, timedOut := time.Now().Add(d), false
	if limit := start.Add(timeout); limit.Before(wake) {
		wake, timedOut = limit, true
	}
	if !hc.req.HasBody() && hc.br.Buffered() == 0 {
		// Waiting in a read notices a client that hangs up; a client that
		// pipelines its next request ends the read early instead, and the
		// rest of the delay is slept.
		hc.c.SetReadDeadline(wake)
		_, err := hc.br.Peek(1)
		hc.c.SetReadDeadline(time.Time{})
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && hc.expired.Load() == 0 {
			return -1
		}
	}
	sleep(time.Until(wake))
	if timedOut || hc.expired.Load() > 0 {
		return 504
	}
	return 0
}

// timers are reused so a delayed request does not allocate one.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

func sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := timers.Get().(*time.Timer)
	t.Reset(d)
	<-t.C
	timers.Put(t)
}

// meshAnswer writes a response the mesh makes itself (rate limited, fault
// abort), carrying its response flag, and reports whether the connection
// carries another request. It closes the connection when the request's
// body was left unread.
func (hc *h1conn) meshAnswer(code int, f telemetry.Flag, delayed bool, retryAfter int64, rt *route.Route, start time.Time) bool {
	closeConn := hc.req.HasBody() || hc.req.Close || hc.h.draining.Load()
	text := http.StatusText(code)
	if text == "" {
		text = "Status"
	}
	w := hc.bw
	w.WriteString("HTTP/1.1 ")
	hc.scratch = strconv.AppendInt(hc.scratch[:0], int64(code), 10)
	w.Write(hc.scratch)
	w.WriteByte(' ')
	w.WriteString(text)
	w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	hc.scratch = strconv.AppendInt(hc.scratch[:0], int64(len(text)+1), 10)
	w.Write(hc.scratch)
	w.WriteString("\r\n" + flagHeader + ": ")
	w.WriteString(flagsValue(f, delayed))
	w.WriteString("\r\n")
	if retryAfter > 0 {
		w.WriteString("Retry-After: ")
		hc.scratch = strconv.AppendInt(hc.scratch[:0], retryAfter, 10)
		w.Write(hc.scratch)
		w.WriteString("\r\n")
	}
	if closeConn {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if hc.req.Method == nil || string(hc.req.Method) != "HEAD" {
		w.WriteString(text)
		w.WriteString("\n")
	}
	w.Flush()
	if hc.rec.Reporter == telemetry.ReporterSource && hc.rec.Service.Host == "" {
		if svc := routeService(rt); svc != "" {
			destinationOfName(&hc.rec, svc, nil)
		}
	}
	hc.observe(code, f, time.Since(start))
	hc.finishTrace(code, f, "", "", start) // as HTTP/2's meshAnswer does
	if hc.req.HasBody() {
		hc.lingerClose()
	}
	return !closeConn
}
