package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// userAgent names the client to the control plane's logs.
const userAgent = "weft-xds-client"

// grpcStream is one bidirectional-streaming gRPC call on a connection of
// its own. Requests go out through a pipe that is the HTTP/2 request body;
// responses come back as the response body, and the status that ends the
// call in its trailers. It is used by one goroutine at a time.
type grpcStream struct {
	cc          *http.ClientConn
	cancel      context.CancelFunc
	pr          *io.PipeReader
	pw          *io.PipeWriter
	headers     chan roundTrip // the response headers; nil once received
	resp        *http.Response // set once the headers came and were gRPC's
	err         error          // why the stream ended, once it has
	maxMessage  int
	sendTimeout time.Duration
}

type roundTrip struct {
	resp *http.Response
	err  error
}

// open starts a call to method on addr. It returns without waiting for the
// server's headers: a gRPC server sends them with its first message, and a
// control plane may hold that until it has a config for the node, which it
// learns from the requests the caller is about to send.
func (t *transport) open(ctx context.Context, addr, method string) (*grpcStream, error) {
	cc, err := t.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	// Once the response headers are in, the HTTP/2 client heeds the request's
	// context only after the request body is done, and a stream's body
	// never is: a read of the response, or a send waiting for flow
	// control, would outlive ctx. Closing the connection, which is this
	// stream's alone, ends both.
	context.AfterFunc(ctx, func() { cc.Close() })
	u := url.URL{Scheme: t.scheme(), Host: addr, Path: method}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), pr)
	if err != nil {
		cancel()
		cc.Close()
		return nil, fmt.Errorf("grpc request to %s: %w", addr, err)
	}
	// "te: trailers" is required by gRPC: it tells intermediaries that the
	// call's status will arrive in trailers.
	req.Header = http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}, "User-Agent": {userAgent}}
	s := &grpcStream{cc: cc, cancel: cancel, pr: pr, pw: pw, headers: make(chan roundTrip, 1),
		maxMessage: t.maxMessage, sendTimeout: t.sendTimeout}
	go func() {
		resp, err := cc.RoundTrip(req)
		s.headers <- roundTrip{resp, err}
	}()
	return s, nil
}

// send writes one message. The write is bounded by the send timeout: a
// server that stops reading fills HTTP/2's flow-control window while it
// still answers keepalive pings, and would block the client for good.
func (s *grpcStream) send(msg []byte) error {
	if s.err != nil {
		return s.err
	}
	frame := appendFrame(make([]byte, 0, frameHeader+len(msg)), msg)
	t := time.AfterFunc(s.sendTimeout, func() { s.pr.CloseWithError(errSendTimeout) })
	_, err := s.pw.Write(frame)
	t.Stop()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.ErrClosedPipe):
		// The transport stopped taking the request: the server ended the
		// call or the connection failed. The response tells which.
		return s.drain()
	}
	s.err = fmt.Errorf("grpc send: %w", err)
	return s.err
}

// recv returns the next message, or the error that ended the stream.
func (s *grpcStream) recv() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.resp == nil {
		if s.err = s.awaitHeaders(); s.err != nil {
			return nil, s.err
		}
	}
	msg, err := readFrame(s.resp.Body, s.maxMessage)
	switch {
	case err == nil:
		return msg, nil
	case errors.Is(err, io.EOF):
		if s.err = streamStatus(s.resp.Trailer); s.err == nil {
			s.err = errNoStatus
		}
	default:
		s.err = fmt.Errorf("grpc recv: %w", err)
	}
	return nil, s.err
}

// awaitHeaders waits for the response headers and checks they open a
// gRPC response. The wait has no timer of its own: the connection's
// keepalive ends it if the server is gone, and a live server may take as
// long as it needs to send its first message.
func (s *grpcStream) awaitHeaders() error {
	rt := <-s.headers
	s.headers = nil
	if rt.err != nil {
		return fmt.Errorf("grpc call: %w", rt.err)
	}
	s.resp = rt.resp
	// A call that fails before any message is a trailers-only response:
	// its status is in the headers.
	if err := streamStatus(rt.resp.Header); err != nil {
		return err
	}
	if rt.resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: http status %d", errNotGRPC, rt.resp.StatusCode)
	}
	if ct := rt.resp.Header.Get("Content-Type"); !isGRPCContentType(ct) {
		return fmt.Errorf("%w: content-type %q", errNotGRPC, ct)
	}
	return nil
}

// isGRPCContentType reports whether ct is application/grpc, alone or with
// a codec suffix ("+proto") or parameters.
func isGRPCContentType(ct string) bool {
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// drain reads what is left of the response, discarding messages, to learn
// why the stream ended. A server that ended the call has sent it all; one
// that is still sending is cut off after the send timeout.
func (s *grpcStream) drain() error {
	t := time.AfterFunc(s.sendTimeout, s.cancel)
	defer t.Stop()
	for {
		if _, err := s.recv(); err != nil {
			return err
		}
	}
}

// close ends the call, resetting it if it is still open, and closes its
// connection. It waits for the call's goroutine, so nothing outlives it.
func (s *grpcStream) close() {
	s.cancel()
	if s.headers != nil {
		if rt := <-s.headers; rt.resp != nil {
			rt.resp.Body.Close()
		}
		s.headers = nil
	} else if s.resp != nil {
		s.resp.Body.Close()
	}
	s.cc.Close()
}
