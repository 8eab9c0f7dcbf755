package store

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcd logs through zap. slogCore hands its entries to the control plane's
// slog.Logger, so the reason etcd fails (a port taken, a corrupt data
// directory, the space quota reached) is in the control plane's log rather
// than discarded. It is a small core of our own: zap's exp/zapslog is a
// separate module the build does not otherwise need.
type slogCore struct {
	log   *slog.Logger
	min   zapcore.Level
	attrs []slog.Attr // from With
	// quiet demotes everything to Debug: etcd logs an orderly stop as
	// errors ("closed etcd server", failed health probes), which would read
	// as failures in every clean shutdown.
	quiet *atomic.Bool
}

var _ zapcore.Core = (*slogCore)(nil)

// newZapLogger returns a zap.Logger writing entries at min and above to
// log, and the switch that demotes them to Debug once a stop begins.
func newZapLogger(log *slog.Logger, min zapcore.Level) (*zap.Logger, *atomic.Bool) {
	quiet := &atomic.Bool{}
	return zap.New(&slogCore{log: log, min: min, quiet: quiet}), quiet
}

// noise are messages etcd warns about that say nothing wrong in the way
// Weft runs it, each with the text its error field must contain to count
// as noise ("": any); they are logged at Debug.
var noise = map[string]string{
	// One loopback port for gRPC and HTTP is how the embedded store runs.
	"Running http and grpc server on single port. This is not recommended for production.": "",
	// etcd's auth is off; its token type does not matter.
	"simple token is not cryptographically signed": "",
	// A fresh member checks its storage version before its first raft
	// term is written, and retries.
	"failed to update storage version": "missing term information",
	"Failed to detect schema version":  "missing term information",
}

func (c *slogCore) isNoise(e zapcore.Entry, as []slog.Attr) bool {
	want, ok := noise[e.Message]
	if !ok || want == "" {
		return ok
	}
	for _, a := range as {
		if a.Key == "error" && strings.Contains(a.Value.String(), want) {
			return true
		}
	}
	return false
}

func (c *slogCore) level(e zapcore.Entry) slog.Level {
	if c.quiet.Load() {
		return slog.LevelDebug
	}
	switch {
	case e.Level >= zapcore.ErrorLevel:
		return slog.LevelError
	case e.Level == zapcore.WarnLevel:
		return slog.LevelWarn
	case e.Level == zapcore.InfoLevel:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// Enabled implements zapcore.LevelEnabler.
func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.min }

// With implements zapcore.Core.
func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	n := *c
	n.attrs = append(append([]slog.Attr(nil), c.attrs...), attrs(fs)...)
	return &n
}

// Check implements zapcore.Core.
func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) && c.log.Enabled(context.Background(), c.level(e)) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write implements zapcore.Core.
func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	as := append(append([]slog.Attr(nil), c.attrs...), attrs(fs)...)
	if e.LoggerName != "" {
		as = append(as, slog.String("logger", e.LoggerName))
	}
	level := c.level(e)
	if c.isNoise(e, as) {
		level = slog.LevelDebug
	}
	// LogAttrs drops it if the handler is not enabled for the final level.
	c.log.LogAttrs(context.Background(), level, e.Message, as...)
	return nil
}

// Sync implements zapcore.Core; slog handlers do not buffer.
func (c *slogCore) Sync() error { return nil }

// attrs turns zap fields into slog attributes, sorted by key, through
// zap's own map encoder (which knows every field type).
func attrs(fs []zapcore.Field) []slog.Attr {
	if len(fs) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		out = append(out, slog.Any(k, enc.Fields[k]))
	}
	return out
}
