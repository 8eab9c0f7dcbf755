package proxy

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// Responses the mesh makes itself carry telemetry.ResponseFlagsHeader and
// a one-line body "weft: <why> (<FLAG>)", so a caller can tell them from
// the app's own 404 or 503. Each is logged at info, rate limited.

// flagLogPerSecond caps the mesh-response log lines per flag per second,
// process-wide: a flood of bad requests cannot fill the disk. Lines over
// the cap are counted and the count is reported on the next line logged.
const flagLogPerSecond = 5

type flagWindow struct {
	sec        atomic.Int64
	n          atomic.Int32
	suppressed atomic.Int64
}

var flagLogs [telemetry.NumFlags]flagWindow

// allowFlagLog reports whether a line for f may be logged now, and how
// many were suppressed since the last one.
func allowFlagLog(f telemetry.Flag, now time.Time) (bool, int64) {
	if int(f) >= len(flagLogs) {
		return false, 0
	}
	w := &flagLogs[f]
	sec := now.Unix()
	if old := w.sec.Load(); old != sec && w.sec.CompareAndSwap(old, sec) {
		w.n.Store(0)
	}
	if w.n.Add(1) > flagLogPerSecond {
		w.suppressed.Add(1)
		return false, 0
	}
	return true, w.suppressed.Swap(0)
}

// logMeshResponse logs one response the mesh made, unless f's line budget
// for this second is spent.
func logMeshResponse(log *slog.Logger, f telemetry.Flag, code int, why string, subject []byte, clusterName, routeName string) {
	ok, suppressed := allowFlagLog(f, time.Now())
	if !ok {
		return
	}
	args := []any{"flag", f.String(), "status", code, "reason", why}
	if subject != nil {
		args = append(args, "subject", string(subject))
	}
	if clusterName != "" {
		args = append(args, "cluster", clusterName)
	}
	if routeName != "" {
		args = append(args, "route", routeName)
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	log.Info("mesh response", args...)
}

// meshBodyLen is the length of the body writeMeshBody writes.
func meshBodyLen(f telemetry.Flag, why string, subject []byte) int {
	n := len("weft: ") + len(why) + len(" ()\n") + len(f.String())
	if subject != nil {
		n += len(subject) + 3
	}
	return n
}

// writeMeshBody writes `weft: <why> "<subject>" (<FLAG>)` and a newline.
func writeMeshBody(w *bufio.Writer, f telemetry.Flag, why string, subject []byte) {
	w.WriteString("weft: ")
	w.WriteString(why)
	if subject != nil {
		w.WriteString(` "`)
		w.Write(subject)
		w.WriteByte('"')
	}
	w.WriteString(" (")
	w.WriteString(f.String())
	w.WriteString(")\n")
}

// meshBody returns the same body as a string, for the HTTP/2 engine.
func meshBody(f telemetry.Flag, why string, subject []byte) string {
	b := make([]byte, 0, meshBodyLen(f, why, subject))
	b = append(b, "weft: "...)
	b = append(b, why...)
	if subject != nil {
		b = append(b, ` "`...)
		b = append(b, subject...)
		b = append(b, '"')
	}
	b = append(b, " ("...)
	b = append(b, f.String()...)
	b = append(b, ")\n"...)
	return string(b)
}

// writeStatusCode writes a three-digit status without strconv's allocation.
func writeStatusCode(w *bufio.Writer, code int) {
	if code < 100 || code > 999 {
		code = 500
	}
	w.WriteByte(byte('0' + code/100))
	w.WriteByte(byte('0' + code/10%10))
	w.WriteByte(byte('0' + code%10))
}

// writeDecimal writes n >= 0 in decimal without allocating.
func writeDecimal(w *bufio.Writer, n int) {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	for ; i < len(d); i++ {
		w.WriteByte(d[i])
	}
}

// isFlagsHeader reports the mesh's response-flags header, in any case.
func isFlagsHeader(name []byte) bool {
	return len(name) == len(telemetry.ResponseFlagsHeader) && h1.EqualFold(name, "x-weft-response-flags")
}

// flagForUpstreamH1 classifies a failure of an HTTP/1 exchange upstream.
func flagForUpstreamH1(err error, expired bool) (telemetry.Flag, int) {
	switch {
	case expired:
		return telemetry.FlagUpstreamTimeout, 504
	case errors.Is(err, errClientBody):
		return telemetry.FlagDownstreamProtocolError, 400
	case errors.Is(err, h1.ErrBadResponse), errors.Is(err, h1.ErrBadFraming), errors.Is(err, h1.ErrVersion),
		errors.Is(err, h1.ErrHeaderTooLarge), errors.Is(err, h1.ErrTooManyHeaders), errors.Is(err, h1.ErrBadChunk):
		return telemetry.FlagUpstreamProtocolError, 502
	case errors.Is(err, upstream.ErrPoolFull):
		return telemetry.FlagUpstreamOverflow, 503
	case isDial(err):
		return telemetry.FlagUpstreamConnectFailure, 502
	}
	return telemetry.FlagUpstreamConnTermination, 502
}

// flagForUpstreamH2 classifies a failed round trip of the HTTP/2 engine
// or the bridge.
func flagForUpstreamH2(err error, ctxErr error) (telemetry.Flag, int) {
	var se http2.StreamError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctxErr, context.DeadlineExceeded):
		return telemetry.FlagUpstreamTimeout, 504
	case errors.Is(err, errNoCapacity), errors.Is(err, upstream.ErrPoolFull):
		return telemetry.FlagUpstreamOverflow, 503
	case errors.Is(err, errBadClientBody):
		return telemetry.FlagDownstreamProtocolError, 400
	case errors.Is(err, errUpstreamHead):
		return telemetry.FlagUpstreamProtocolError, 502
	case errors.As(err, &se):
		return telemetry.FlagUpstreamReset, 502
	case isDial(err):
		return telemetry.FlagUpstreamConnectFailure, 502
	}
	return telemetry.FlagUpstreamConnTermination, 502
}

// isDial reports an error from connecting, as opposed to one from an
// established connection.
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// deadlineSlack is how close to a request's deadline an upstream failure
// counts as the deadline passing: the upstream was told the time left
// (grpc-timeout), so at the deadline it resets the stream a moment before
// this proxy's own timer fires, and the client must see DEADLINE_EXCEEDED
// (UT), not an upstream reset.
const deadlineSlack = 20 * time.Millisecond

// ctxErrNear is ctx.Err(), or DeadlineExceeded once ctx's deadline is within
// deadlineSlack.
func ctxErrNear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= deadlineSlack {
		return context.DeadlineExceeded
	}
	return nil
}
