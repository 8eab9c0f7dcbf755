package otlp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// Config configures an exporter. Zero values are the defaults.
type Config struct {
	// Endpoint is the collector's OTLP/HTTP base URL
	// (http://HOST:4318); "/v1/traces" is appended unless the URL
	// already has a path, as OTEL_EXPORTER_OTLP_TRACES_ENDPOINT does.
	Endpoint string
	Resource Resource
	// Headers are sent with every export (collector auth tokens).
	Headers map[string]string
	// QueueSize caps spans waiting for export; more are dropped and
	// counted. Zero means 4096.
	QueueSize int
	// BatchSize is the most spans per export request. Zero means 512.
	BatchSize int
	// Interval is the longest a span waits before its batch is sent.
	// Zero means 1s.
	Interval time.Duration
	// Timeout bounds one export request. Zero means 10s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Exporter batches spans and posts them to a collector. Export never
// blocks the request path: a full queue drops the span.
type Exporter struct {
	cfg    Config
	url    string
	queue  chan *tracing.Span
	client *http.Client
	log    *slog.Logger

	exported, dropped, failed atomic.Uint64
}

// Stats counts spans: sent to the collector, dropped because the queue
// was full, and lost in failed exports.
type Stats struct{ Exported, Dropped, Failed uint64 }

// New returns an exporter; Run must be running for spans to leave.
func New(cfg Config) (*Exporter, error) {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	u, err := tracesURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	return &Exporter{
		cfg: cfg, url: u,
		queue:  make(chan *tracing.Span, cfg.QueueSize),
		client: &http.Client{Timeout: cfg.Timeout},
		log:    cfg.Logger.With("component", "otlp"),
	}, nil
}

// tracesURL validates the endpoint and adds OTLP/HTTP's default path.
func tracesURL(endpoint string) (string, error) {
	rest, ok := strings.CutPrefix(endpoint, "http://")
	if !ok {
		if rest, ok = strings.CutPrefix(endpoint, "https://"); !ok {
			return "", fmt.Errorf("otlp endpoint %q: want http://HOST:PORT or https://HOST:PORT (OTLP/HTTP)", endpoint)
		}
	}
	host, path, _ := strings.Cut(rest, "/")
	if host == "" {
		return "", fmt.Errorf("otlp endpoint %q: no host", endpoint)
	}
	if path == "" {
		return strings.TrimSuffix(endpoint, "/") + "/v1/traces", nil
	}
	return endpoint, nil
}

// Export queues a span, or drops it if the queue is full.
func (e *Exporter) Export(s *tracing.Span) {
	select {
	case e.queue <- s:
	default:
		e.dropped.Add(1)
	}
}

// Stats returns the exporter's counters.
func (e *Exporter) Stats() Stats {
	return Stats{Exported: e.exported.Load(), Dropped: e.dropped.Load(), Failed: e.failed.Load()}
}

// Run sends batches until ctx ends, then flushes what is queued (bounded
// by one export timeout).
func (e *Exporter) Run(ctx context.Context) {
	// An export in flight is not cut off by the stop: the client's
	// timeout bounds it.
	sendCtx := context.WithoutCancel(ctx)
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	batch := make([]*tracing.Span, 0, e.cfg.BatchSize)
	for {
		select {
		case s := <-e.queue:
			batch = append(batch, s)
			if len(batch) == cap(batch) {
				batch = e.send(sendCtx, batch)
			}
		case <-t.C:
			batch = e.send(sendCtx, batch)
		case <-ctx.Done():
		drain:
			for len(batch) < cap(batch) {
				select {
				case s := <-e.queue:
					batch = append(batch, s)
				default:
					break drain
				}
			}
			e.send(sendCtx, batch)
			return
		}
	}
}

// send posts batch and returns it emptied for reuse.
func (e *Exporter) send(ctx context.Context, batch []*tracing.Span) []*tracing.Span {
	if len(batch) == 0 {
		return batch
	}
	n := uint64(len(batch))
	body := encodeRequest(nil, &e.cfg.Resource, batch)
	clear(batch)
	batch = batch[:0]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		e.failed.Add(n)
		return batch
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, v := range e.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.failed.Add(n)
		e.log.Warn("span export failed", "url", e.url, "spans", n, "err", err)
		return batch
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e.failed.Add(n)
		e.log.Warn("span export refused", "url", e.url, "spans", n, "status", resp.StatusCode)
		return batch
	}
	e.exported.Add(n)
	return batch
}
