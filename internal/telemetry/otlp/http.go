package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// httpSender posts to an OTLP/HTTP collector (binary protobuf).
type httpSender struct {
	url     string
	headers map[string]string
	client  *http.Client
}

func newHTTPSender(cfg Config, tlsConf *tls.Config) (*httpSender, error) {
	u, err := tracesURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	return &httpSender{url: u, headers: cfg.Headers, client: &http.Client{Transport: tr}}, nil
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

func (h *httpSender) target() string { return h.url }

// maxResponse caps what is read of a collector's answer.
const maxResponse = 64 << 10

func (h *httpSender) send(ctx context.Context, body []byte) (int64, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", &exportError{err: err}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, "", transportError(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 != 2 {
		// OTLP/HTTP: 429, 502, 503 and 504 are worth retrying.
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return 0, "", &exportError{retryable: true, err: fmt.Errorf("collector answered %s", resp.Status)}
		}
		return 0, "", &exportError{err: fmt.Errorf("collector answered %s", resp.Status)}
	}
	if err != nil {
		// The spans were accepted; only the answer's tail was lost.
		return 0, "", nil
	}
	if resp.Header.Get("Content-Type") != "application/x-protobuf" {
		return 0, "", nil
	}
	rejected, msg, err := decodePartialSuccess(b)
	if err != nil {
		return 0, "", nil
	}
	return rejected, msg, nil
}
