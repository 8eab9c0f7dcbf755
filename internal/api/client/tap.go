package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/weft-mesh/weft/internal/api"
)

// maxTapLine caps one line of a tap stream.
const maxTapLine = 64 << 10

// Tap streams live request metadata (GET /v1/tap), calling fn per line
// until the stream ends, ctx ends (nil error) or fn returns an error
// (returned). Only connecting tries the next replica.
func (c *Client) Tap(ctx context.Context, q api.TapQuery, fn func(api.TapLine) error) error {
	v := url.Values{"service": {q.Service}}
	for k, s := range map[string]string{"direction": q.Direction, "path": q.Path, "method": q.Method, "status": q.Status} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Rate > 0 {
		v.Set("rate", strconv.Itoa(q.Rate))
	}
	if q.Max > 0 {
		v.Set("max", strconv.Itoa(q.Max))
	}
	if q.Duration > 0 {
		v.Set("duration", q.Duration.String())
	}
	path := "/tap?" + v.Encode()
	var lastErr error
	for _, base := range c.bases {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+api.Version+path, nil)
		if err != nil {
			return fmt.Errorf("GET /tap: %w", err)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, maxTapLine))
			e := &Error{Code: resp.StatusCode}
			if json.Unmarshal(data, &e.Reply) != nil || e.Reply.Error == "" {
				e.Reply.Error = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(data))
			}
			if resp.StatusCode == http.StatusUnauthorized && c.hint != "" {
				e.Reply.Details = append(e.Reply.Details, c.hint)
			}
			return e
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 4096), maxTapLine)
		for sc.Scan() {
			var l api.TapLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				return fmt.Errorf("GET /tap: decode line: %w", err)
			}
			if err := fn(l); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("GET /tap: read stream: %w", err)
		}
		return nil
	}
	return fmt.Errorf("GET /tap: no control plane answered: %w", lastErr)
}
