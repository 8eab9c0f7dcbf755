package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"

	"github.com/weft-mesh/weft/internal/proxy/h1"
)

// maxInformational bounds the 1xx responses skipped before the final one:
// an upstream that sends nothing but "100 Continue" must not hold a
// stream (and a core) until the request times out.
const maxInformational = 8

// errUpstreamHead is an upstream response the bridge will not relay.
var errUpstreamHead = errors.New("invalid upstream response")

// readH1Response reads an HTTP/1.1 upstream's response with the codec the
// HTTP/1 engine uses, so the head, its field count and the trailers are
// capped (http.ReadResponse caps none of them: issue 7, finding 3).
func readH1Response(br *bufio.Reader, method string, lim h1.Limits) (*http.Response, error) {
	var r h1.Response
	for i := 0; ; i++ {
		if err := r.Read(br, lim); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || !isCodecError(err) {
				return nil, err // connection-level: the caller may retry
			}
			return nil, fmt.Errorf("%w: %w", errUpstreamHead, err)
		}
		if r.Status >= 200 {
			break
		}
		if r.Status == http.StatusSwitchingProtocols {
			// Never relayed: a tunnel would bypass routing (DESIGN.md, traps).
			return nil, fmt.Errorf("%w: 101 switching protocols", errUpstreamHead)
		}
		if i >= maxInformational {
			return nil, fmt.Errorf("%w: more than %d informational responses", errUpstreamHead, maxInformational)
		}
	}
	resp := &http.Response{
		StatusCode:    r.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    r.Minor,
		Header:        make(http.Header, len(r.Headers)),
		ContentLength: r.ContentLength,
		Close:         r.Close,
	}
	for _, f := range r.Headers {
		k := textproto.CanonicalMIMEHeaderKey(string(f.Name))
		resp.Header[k] = append(resp.Header[k], string(f.Value))
	}
	hasBody, untilClose := r.BodyFramed([]byte(method))
	switch {
	case !hasBody:
		resp.Body, resp.ContentLength = http.NoBody, 0
	case r.Chunked:
		resp.Body = &chunkedBody{cr: h1.NewChunkedReader(br), resp: resp}
		resp.ContentLength = -1
	case untilClose:
		resp.Body, resp.Close = io.NopCloser(br), true
	default:
		resp.Body = &lengthBody{r: br, left: r.ContentLength}
	}
	return resp, nil
}

// isCodecError reports whether err is the codec refusing the bytes, as
// opposed to the connection failing under it.
func isCodecError(err error) bool {
	for _, e := range []error{h1.ErrBadRequest, h1.ErrBadResponse, h1.ErrHeaderTooLarge, h1.ErrTooManyHeaders, h1.ErrBadFraming, bufio.ErrBufferFull} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// lengthBody is a Content-Length body: fewer bytes than declared is an
// error, so a truncated response never looks complete.
type lengthBody struct {
	r    *bufio.Reader
	left int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		if b.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	if err == nil && b.left == 0 {
		err = io.EOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }

// chunkedBody fills resp.Trailer when the last chunk is read, as
// net/http's body does.
type chunkedBody struct {
	cr   *h1.ChunkedReader
	resp *http.Response
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	n, err := b.cr.Read(p)
	if err == io.EOF {
		if tr := b.cr.Trailers(); len(tr) > 0 {
			b.resp.Trailer = make(http.Header, len(tr))
			for _, f := range tr {
				k := textproto.CanonicalMIMEHeaderKey(string(f.Name))
				b.resp.Trailer[k] = append(b.resp.Trailer[k], string(f.Value))
			}
		}
	}
	return n, err
}

func (b *chunkedBody) Close() error { return nil }
