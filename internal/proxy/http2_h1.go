package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
)

// roundTripH1 sends an HTTP/2-originated request to an HTTP/1.1 upstream on
// a pooled connection. This is the slow path (it allocates): it serves an
// HTTP/2 or gRPC-web client calling an HTTP/1.1 app.
func roundTripH1(ep *cluster.Endpoint, out *http.Request, lim h1.Limits) (*http.Response, error) {
	ctx := out.Context()
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // net/http would add its own
	}
	if out.ContentLength > 0 && out.ContentLength <= maxVerifiedBody {
		// HTTP/2 frames the body by DATA frames, HTTP/1.1 by the declared
		// length: verify they agree before a byte goes upstream (RELIABILITY
		// row 6). Larger bodies stream; a mismatch then aborts the request.
		body := make([]byte, out.ContentLength)
		if _, err := io.ReadFull(out.Body, body); err != nil {
			return nil, fmt.Errorf("%w: %v", errBadClientBody, err)
		}
		if n, _ := out.Body.Read(make([]byte, 1)); n != 0 {
			return nil, fmt.Errorf("%w: body longer than content-length", errBadClientBody)
		}
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	retryable := out.ContentLength == 0
	c, err := ep.Pool.Get(ctx)
	if err != nil {
		if errors.Is(err, upstream.ErrPoolFull) {
			return nil, fmt.Errorf("%w: %v", errNoCapacity, err)
		}
		return nil, err
	}
	resp, err := sendH1(ctx, c, out, lim)
	if err != nil && c.Reused && retryable && !errors.Is(err, errUpstreamHead) && ctx.Err() == nil {
		// The pooled connection was closed under us before any response
		// byte: the request never ran, so one fresh try is safe.
		ep.Pool.Discard(c)
		if c, err = ep.Pool.Fresh(ctx); err != nil {
			return nil, err
		}
		resp, err = sendH1(ctx, c, out, lim)
	}
	if err != nil {
		ep.Pool.Discard(c)
		return nil, err
	}
	resp.Body = &pooledBody{rc: resp.Body, pool: ep.Pool, conn: c, close: resp.Close}
	return resp, nil
}

// errBadClientBody is a request body that contradicts its own framing.
var errBadClientBody = errors.New("request body does not match content-length")

// maxVerifiedBody bounds the bodies buffered for that check.
const maxVerifiedBody = 64 << 10

func sendH1(ctx context.Context, c *upstream.Conn, out *http.Request, lim h1.Limits) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.Conn.Close() })
	if err := out.Write(c.W); err != nil {
		stop()
		return nil, fmt.Errorf("write request: %w", err)
	}
	if err := c.W.Flush(); err != nil {
		stop()
		return nil, fmt.Errorf("write request: %w", err)
	}
	resp, err := readH1Response(c.R, out.Method, lim)
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read response: %w", err)
	}
	// The watcher stays armed until the body is done: a deadline in the
	// middle of a body must still cut the connection.
	resp.Body = &stopBody{ReadCloser: resp.Body, stop: stop}
	return resp, nil
}

type stopBody struct {
	io.ReadCloser
	stop func() bool
}

// pooledBody returns the connection to the pool once the body was read to
// the end, and discards it otherwise.
type pooledBody struct {
	rc    io.ReadCloser
	pool  *upstream.Pool
	conn  *upstream.Conn
	close bool
	once  sync.Once
	eof   bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
		b.release()
	}
	return n, err
}

func (b *pooledBody) Close() error {
	b.release()
	return nil
}

func (b *pooledBody) release() {
	b.once.Do(func() {
		sb, _ := b.rc.(*stopBody)
		armed := sb == nil || sb.stop()
		if b.eof && !b.close && armed {
			b.pool.Put(b.conn)
			return
		}
		b.pool.Discard(b.conn)
	})
}
