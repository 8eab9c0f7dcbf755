// Package accesslog writes one JSON line per request, off the request
// path: lines are queued (bounded, dropped and counted when full) and a
// single goroutine writes them.
package accesslog

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// Fields a line can carry, in this order. DefaultFields lists them all.
var DefaultFields = []string{
	"start_time", "direction", "method", "authority", "path", "protocol", "response_code",
	"response_flags", "duration_ms", "upstream_cluster", "upstream_host", "request_id", "trace_id",
}

// Config configures a logger.
type Config struct {
	// Fields to write, from DefaultFields; empty means all.
	Fields []string
	// Sampling is the share of requests logged, 0 to 1; a request with a
	// response flag (a mesh-made or failed response) is always logged, so
	// 0 logs only those.
	Sampling float64
	// QueueSize caps lines waiting to be written. Zero means 4096.
	QueueSize int
}

// Logger writes access log lines to W.
type Logger struct {
	w      io.Writer
	fields []field
	below  uint64
	queue  chan []byte
	// Dropped counts lines lost to a full queue or a failed write.
	dropped atomic.Uint64
	written atomic.Uint64
}

type field uint8

const (
	fStart field = iota
	fDirection
	fMethod
	fAuthority
	fPath
	fProtocol
	fCode
	fFlags
	fDuration
	fCluster
	fUpstream
	fRequestID
	fTraceID
)

// New checks cfg and returns a logger writing to w; Run must be running.
func New(w io.Writer, cfg Config) (*Logger, error) {
	names := cfg.Fields
	if len(names) == 0 {
		names = DefaultFields
	}
	l := &Logger{w: w}
	for _, n := range names {
		i := indexOf(DefaultFields, n)
		if i < 0 {
			return nil, fmt.Errorf("access log field %q: unknown (known: %v)", n, DefaultFields)
		}
		l.fields = append(l.fields, field(i))
	}
	switch s := cfg.Sampling; {
	case s < 0 || s > 1:
		return nil, fmt.Errorf("access log sampling %v: want 0 to 1", s)
	case s == 1:
		l.below = ^uint64(0)
	default:
		l.below = uint64(s * (1 << 63) * 2)
	}
	q := cfg.QueueSize
	if q <= 0 {
		q = 4096
	}
	l.queue = make(chan []byte, q)
	return l, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// Log queues one request's line. A nil *Logger logs nothing.
func (l *Logger) Log(s *tracing.Span, start, end time.Time) {
	if l == nil {
		return
	}
	if s.Flags == "" && l.below != ^uint64(0) && (l.below == 0 || rand.Uint64() >= l.below) {
		return
	}
	b := make([]byte, 0, 320)
	b = append(b, '{')
	for i, f := range l.fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, DefaultFields[f]...)
		b = append(b, '"', ':')
		switch f {
		case fStart:
			b = append(b, '"')
			b = start.UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		case fDirection:
			b = appendString(b, s.Direction)
		case fMethod:
			b = appendString(b, s.Method)
		case fAuthority:
			b = appendString(b, s.Authority)
		case fPath:
			b = appendString(b, s.Path)
		case fProtocol:
			b = appendString(b, s.Protocol)
		case fCode:
			b = strconv.AppendInt(b, int64(s.Status), 10)
		case fFlags:
			flags := s.Flags
			if flags == "" {
				flags = "-" // Envoy's spelling of "no flag"
			}
			b = appendString(b, flags)
		case fDuration:
			b = strconv.AppendFloat(b, float64(end.Sub(start).Microseconds())/1000, 'f', 3, 64)
		case fCluster:
			b = appendString(b, s.Cluster)
		case fUpstream:
			b = appendString(b, s.Upstream)
		case fRequestID:
			b = appendString(b, s.RequestID)
		case fTraceID:
			if s.Trace.IsZero() {
				b = append(b, '"', '"')
			} else {
				b = append(b, '"')
				b = tracing.AppendHex(b, s.Trace[:])
				b = append(b, '"')
			}
		}
	}
	b = append(b, '}', '\n')
	select {
	case l.queue <- b:
	default:
		l.dropped.Add(1)
	}
}

// Stats returns lines written and dropped.
func (l *Logger) Stats() (written, dropped uint64) { return l.written.Load(), l.dropped.Load() }

// Run writes queued lines until ctx ends, then what is left.
func (l *Logger) Run(ctx context.Context) {
	for {
		select {
		case b := <-l.queue:
			l.write(b)
		case <-ctx.Done():
			for {
				select {
				case b := <-l.queue:
					l.write(b)
				default:
					return
				}
			}
		}
	}
}

func (l *Logger) write(b []byte) {
	if _, err := l.w.Write(b); err != nil {
		l.dropped.Add(1)
		return
	}
	l.written.Add(1)
}

// appendString appends s as a JSON string. Request fields come from the
// client, so every control character, quote and invalid UTF-8 byte is
// escaped: a line can never be broken or forged by what a client sends.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, '\\', 'u', 'f', 'f', 'f', 'd')
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

const hex = "0123456789abcdef"
