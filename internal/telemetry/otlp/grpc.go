package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// exportMethod is OTLP/gRPC's one trace call.
const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// grpcSender makes OTLP/gRPC's unary Export call over HTTP/2 itself,
// with the standard library's client: a unary gRPC call is one POST of a
// length-prefixed message whose status comes in the trailers. grpc-go is
// not used because the data plane must not link it (DESIGN.md rule 3);
// the tests hold this against a grpc-go server.
type grpcSender struct {
	url     string
	headers map[string]string
	client  *http.Client
}

func newGRPCSender(cfg Config, tlsConf *tls.Config) (*grpcSender, error) {
	authority, secure, err := grpcTarget(cfg.Endpoint, cfg.Insecure)
	if err != nil {
		return nil, err
	}
	p := new(http.Protocols)
	scheme := "http"
	if secure {
		p.SetHTTP2(true) // gRPC needs h2, chosen by ALPN
		scheme = "https"
	} else {
		p.SetUnencryptedHTTP2(true) // h2c with prior knowledge
	}
	tr := &http.Transport{
		Protocols:           p,
		TLSClientConfig:     tlsConf,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
	return &grpcSender{url: scheme + "://" + authority + exportMethod, headers: cfg.Headers, client: &http.Client{Transport: tr}}, nil
}

// grpcTarget reads an OTLP/gRPC endpoint: http://HOST:PORT, https://HOST:PORT
// or HOST:PORT (TLS unless insecure). A path is refused: gRPC's is the
// method's.
func grpcTarget(endpoint string, insecure bool) (authority string, secure bool, err error) {
	rest, secure := endpoint, !insecure
	if r, ok := strings.CutPrefix(endpoint, "http://"); ok {
		rest, secure = r, false
	} else if r, ok := strings.CutPrefix(endpoint, "https://"); ok {
		rest, secure = r, true
	} else if strings.Contains(endpoint, "://") {
		return "", false, fmt.Errorf("otlp endpoint %q: want http://HOST:PORT, https://HOST:PORT or HOST:PORT (OTLP/gRPC)", endpoint)
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#@") {
		return "", false, fmt.Errorf("otlp endpoint %q: OTLP/gRPC takes no path, query or user; want HOST:PORT", endpoint)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" {
		return "", false, fmt.Errorf("otlp endpoint %q: want HOST:PORT (OTLP/gRPC's is usually 4317)", endpoint)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", false, fmt.Errorf("otlp endpoint %q: bad port %q", endpoint, port)
	}
	return rest, secure, nil
}

func (g *grpcSender) target() string { return g.url }

// gRPC status codes OTLP's retry rules name.
const (
	codeOK                = 0
	codeCanceled          = 1
	codeUnknown           = 2
	codeDeadlineExceeded  = 4
	codeResourceExhausted = 8
	codeAborted           = 10
	codeOutOfRange        = 11
	codeInternal          = 13
	codeUnavailable       = 14
	codeDataLoss          = 15
)

func (g *grpcSender) send(ctx context.Context, msg []byte) (int64, string, error) {
	body := grpcFrame(make([]byte, 0, len(msg)+5), msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", &exportError{err: err}
	}
	for k, v := range g.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", "weft-otlp")
	if d, ok := ctx.Deadline(); ok {
		// The collector gives up when the exporter does.
		req.Header.Set("Grpc-Timeout", strconv.FormatInt(max(time.Until(d).Milliseconds(), 1), 10)+"m")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, "", transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		code := httpToCode(resp.StatusCode)
		return 0, "", &exportError{retryable: code == codeUnavailable, err: fmt.Errorf("collector answered HTTP %s (gRPC code %d)", resp.Status, code)}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/grpc") {
		return 0, "", &exportError{err: fmt.Errorf("collector answered content type %q, not gRPC", ct)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+5))
	if err != nil {
		return 0, "", &exportError{retryable: true, err: fmt.Errorf("reading the answer: %w", err)}
	}
	// Trailers, or the headers of a trailers-only answer.
	st := resp.Trailer
	if st.Get("Grpc-Status") == "" {
		st = resp.Header
	}
	code, err := strconv.Atoi(st.Get("Grpc-Status"))
	if err != nil {
		return 0, "", &exportError{err: fmt.Errorf("answer without a grpc-status (%q)", st.Get("Grpc-Status"))}
	}
	if code != codeOK {
		gm, uerr := url.PathUnescape(st.Get("Grpc-Message"))
		if uerr != nil {
			gm = st.Get("Grpc-Message")
		}
		return 0, "", &exportError{
			retryable: retryableCode(code, st.Get("Grpc-Status-Details-Bin")),
			err:       fmt.Errorf("collector answered gRPC code %d: %s", code, gm),
		}
	}
	m, err := readGRPCFrame(b)
	if err != nil {
		return 0, "", nil // accepted; the answer's detail is lost
	}
	rejected, pm, err := decodePartialSuccess(m)
	if err != nil {
		return 0, "", nil
	}
	return rejected, pm, nil
}

// retryableCode follows OTLP/gRPC: these codes are transient, and
// RESOURCE_EXHAUSTED only when the server sends RetryInfo (it expects to
// recover).
func retryableCode(code int, details string) bool {
	switch code {
	case codeCanceled, codeDeadlineExceeded, codeAborted, codeOutOfRange, codeUnavailable, codeDataLoss:
		return true
	case codeResourceExhausted:
		return hasRetryInfo(details)
	}
	return false
}

// httpToCode is gRPC's mapping of an HTTP status from a non-gRPC hop.
func httpToCode(status int) int {
	switch status {
	case 400:
		return codeInternal
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 12 // UNIMPLEMENTED
	case 429, 502, 503, 504:
		return codeUnavailable
	}
	return codeUnknown
}

// retryInfoType is google.rpc.RetryInfo's Any type URL.
const retryInfoType = "type.googleapis.com/google.rpc.RetryInfo"

// hasRetryInfo reports whether grpc-status-details-bin (a base64
// google.rpc.Status) carries a RetryInfo detail.
func hasRetryInfo(details string) bool {
	if details == "" {
		return false
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(details, "="))
	if err != nil {
		return false
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if num == 3 && typ == protowire.BytesType { // Status.details: Any
			anyMsg, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			if anyTypeURL(anyMsg) == retryInfoType {
				return true
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return false
}

// anyTypeURL is google.protobuf.Any's type_url (field 1).
func anyTypeURL(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}
