// Package echo is a mesh-unaware demo app: it answers every request with who
// it is and what it received. It knows nothing about Weft.
package echo

import (
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Reply is the JSON body echo answers with.
type Reply struct {
	Service   string            `json:"service"`
	Version   string            `json:"version"`
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	Host      string            `json:"host"`
	BodyBytes int64             `json:"bodyBytes"`
	Headers   map[string]string `json:"headers"`
	Served    int64             `json:"served"`
}

// maxBody bounds what echo reads of a request body; the rest is discarded.
const maxBody = 1 << 20

// maxDelay bounds the ?delay= a caller may ask for.
const maxDelay = 10 * time.Second

// Handler answers with a Reply naming service and version. A ?delay=500ms
// query makes it wait first (up to 10s), to stand in for a slow request.
func Handler(service, version string) http.Handler {
	var served atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("delay")); err == nil && d > 0 {
			select {
			case <-time.After(min(d, maxDelay)):
			case <-r.Context().Done():
				return
			}
		}
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, maxBody))
		rep := Reply{
			Service: service, Version: version, Method: r.Method, Path: r.URL.RequestURI(),
			Host: r.Host, BodyBytes: n, Headers: map[string]string{}, Served: served.Add(1),
		}
		for k, v := range r.Header {
			rep.Headers[k] = v[0]
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Served-By", service+"-"+version)
		json.NewEncoder(w).Encode(rep)
	})
}
