package store

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// records is an slog.Handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	list []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec.Clone())
	return nil
}
func (r *records) WithAttrs(as []slog.Attr) slog.Handler { return &withAttrs{r, as} }
func (r *records) WithGroup(string) slog.Handler         { return r }

func (r *records) all() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record(nil), r.list...)
}

// withAttrs keeps Logger.With attributes on the records.
type withAttrs struct {
	*records
	as []slog.Attr
}

func (w *withAttrs) Handle(ctx context.Context, rec slog.Record) error {
	rec.AddAttrs(w.as...)
	return w.records.Handle(ctx, rec)
}

func attrMap(rec slog.Record) map[string]string {
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

func TestZapToSlogLevels(t *testing.T) {
	var h records
	zl, quiet := newZapLogger(slog.New(&h), zapcore.WarnLevel)
	zl.Info("routine")                                          // below the minimum: dropped
	zl.Warn("slow fdatasync", zap.Duration("took", 1500000000)) // -> Warn
	zl.With(zap.String("member", "weft")).Error("lost leader", zap.Error(errors.New("timeout")))
	zl.Warn("Running http and grpc server on single port. This is not recommended for production.")
	zl.Error("failed to update storage version", zap.Error(errors.New("cannot detect storage schema version: missing term information")))
	zl.Error("failed to update storage version", zap.Error(errors.New("disk full")))
	quiet.Store(true)
	zl.Error("closed etcd server")

	got := h.all()
	want := []struct {
		level slog.Level
		msg   string
		attrs map[string]string
	}{
		{slog.LevelWarn, "slow fdatasync", map[string]string{"took": "1.5s"}},
		{slog.LevelError, "lost leader", map[string]string{"member": "weft", "error": "timeout"}},
		{slog.LevelDebug, "Running http and grpc server on single port. This is not recommended for production.", map[string]string{}},
		{slog.LevelDebug, "failed to update storage version", map[string]string{}},
		{slog.LevelError, "failed to update storage version", map[string]string{"error": "disk full"}},
		{slog.LevelDebug, "closed etcd server", map[string]string{}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Level != w.level || got[i].Message != w.msg {
			t.Errorf("record %d: %s %q, want %s %q", i, got[i].Level, got[i].Message, w.level, w.msg)
		}
		am := attrMap(got[i])
		for k, v := range w.attrs {
			if am[k] != v {
				t.Errorf("record %d: %s=%q, want %q (all: %v)", i, k, am[k], v, am)
			}
		}
	}
}

// When the embedded etcd cannot start, its own reason reaches the
// control plane's log, not only the error OpenEmbedded returns.
func TestEmbeddedFailureIsLogged(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var h records
	_, err = OpenEmbedded(context.Background(), EmbeddedConfig{DataDir: t.TempDir(), PeerAddr: taken.Addr().String(), FastTicks: true, Logger: slog.New(&h)})
	if err == nil {
		t.Fatal("etcd started on a taken peer port")
	}
	for _, rec := range h.all() {
		am := attrMap(rec)
		if rec.Level == slog.LevelError && am["component"] == "etcd" && strings.Contains(am["error"], "address already in use") {
			return
		}
	}
	t.Fatalf("no etcd error naming the taken port reached slog; records: %v", h.all())
}
