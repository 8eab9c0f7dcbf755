// Package server is the admin API's HTTP handler over a Backend that the
// control plane implements. The wire types are package api, a leaf the
// sidecar may import without linking any of this.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/mesh"
)

// Errors a Backend wraps so the handler picks the status code.
var (
	ErrInvalid  = errors.New("invalid")   // 400
	ErrNotFound = errors.New("not found") // 404
	ErrConflict = errors.New("conflict")  // 409
	// ErrUnauthenticated: the credential is missing, unknown, expired or
	// used up (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the credential is valid but does not allow this act,
	// such as a workload registering another service (403).
	ErrForbidden = errors.New("forbidden")
)

// Backend is what the control plane provides to the API.
type Backend interface {
	Apply(ctx context.Context, body []byte, dryRun bool) (api.ApplyResult, error)
	Delete(ctx context.Context, kind, namespace, name string, dryRun bool) (api.ApplyResult, error)
	Rollback(ctx context.Context, revision int64, dryRun bool) (api.ApplyResult, error)
	History(ctx context.Context) ([]api.Revision, error)
	// Resources lists stored resources with their status; kind "" means
	// every kind and name "" every name.
	Resources(ctx context.Context, kind, namespace, name string) ([]api.Resource, error)
	Proxies(ctx context.Context) []api.Proxy
	Instances(ctx context.Context, service string) ([]api.Instance, error)
	Register(ctx context.Context, r api.Registration) (api.Lease, error)
	Deregister(ctx context.Context, service, id string, lease int64) error
	// SVID signs the request's CSR for the identity its credential
	// proves; peer is the verified TLS client certificate chain (DER,
	// leaf first), if any.
	SVID(ctx context.Context, r api.SVIDRequest, peer [][]byte) (api.SVID, error)
	Bundle(ctx context.Context) (api.Bundle, error)
	// CreateToken makes a join token. It is an operator's act: the route
	// needs the operator credential.
	CreateToken(ctx context.Context, r api.TokenRequest) (api.Token, error)
	// RotateCA starts a root rotation or finishes its overlap: an
	// operator's act. CAStatus reads the roots and the rotation phase.
	RotateCA(ctx context.Context, r api.CARotateRequest) (api.CAStatus, error)
	CAStatus(ctx context.Context) (api.CAStatus, error)
	// Stats are the mesh's golden signals, per service version and per
	// edge, over a recent window.
	Stats(ctx context.Context) (api.Stats, error)
	// Tap streams live request metadata from the query's service's
	// sidecars, calling emit (from one goroutine) per line until the
	// query's duration or max, or ctx ends. An error before the first
	// emit is the request's answer.
	Tap(ctx context.Context, q api.TapQuery, emit func(api.TapLine) error) error
}

// MaxBody caps a request body.
const MaxBody = mesh.MaxDecodeBytes

// Config configures the handler. Zero values are defaults.
type Config struct {
	// Auth recognises credentials. Nil serves every route to anyone
	// (in-process tests only: the control plane always sets it).
	Auth Authenticator
	// MaxInFlight caps the requests being handled at once; more are
	// answered 503 at once rather than queued. Default 64.
	MaxInFlight int
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxInFlight is Config.MaxInFlight's default.
const DefaultMaxInFlight = 64

// Handler serves the API under /v1.
func Handler(b Backend, cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	h := &handler{b: b, log: log.With("component", "api"), auth: cfg.Auth}
	mux := http.NewServeMux()
	route := func(pattern string, level access, f http.HandlerFunc) { mux.HandleFunc(pattern, h.guard(level, f)) }
	route("POST "+api.Version+"/apply", operator, h.apply)
	route("GET "+api.Version+"/resources", read, h.resources)
	route("GET "+api.Version+"/resources/{kind}", read, h.resources)
	route("GET "+api.Version+"/resources/{kind}/{namespace}/{name}", read, h.resources)
	route("DELETE "+api.Version+"/resources/{kind}/{namespace}/{name}", operator, h.delete)
	route("GET "+api.Version+"/history", read, h.history)
	route("POST "+api.Version+"/rollback/{revision}", operator, h.rollback)
	route("GET "+api.Version+"/proxies", read, h.proxies)
	route("GET "+api.Version+"/instances", read, h.instances)
	route("POST "+api.Version+"/instances", workload, h.register)
	route("DELETE "+api.Version+"/instances/{service}/{id}", workload, h.deregister)
	route("POST "+api.Version+"/svid", open, h.svid)
	route("GET "+api.Version+"/bundle", open, h.bundle)
	route("GET "+api.Version+"/stats", read, h.stats)
	route("GET "+api.Version+"/tap", read, h.tap)
	route("POST "+api.Version+"/tokens", operator, h.token)
	route("POST "+api.Version+"/ca/rotate", operator, h.rotateCA)
	route("GET "+api.Version+"/ca", read, h.caStatus)
	return limitInFlight(h, cfg.MaxInFlight, mux)
}

// limitInFlight answers 503 past n requests at once: a flood of slow or
// heavy requests costs the control plane a bounded amount of memory.
func limitInFlight(h *handler, n int, next http.Handler) http.Handler {
	sem := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			h.fail(w, fmt.Errorf("%w: more than %d requests in flight; retry", errBusy, n))
		}
	})
}

// errBusy: the in-flight cap is reached (503).
var errBusy = errors.New("busy")

type handler struct {
	b    Backend
	log  *slog.Logger
	auth Authenticator
}

func dryRun(r *http.Request) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get("dryRun"))
	return v
}

func (h *handler) apply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		h.fail(w, fmt.Errorf("%w: body: %w", ErrInvalid, err))
		return
	}
	res, err := h.b.Apply(r.Context(), body, dryRun(r))
	h.reply(w, res, err)
}

func (h *handler) kind(w http.ResponseWriter, r *http.Request) (string, bool) {
	k := r.PathValue("kind")
	if k == "" {
		return "", true
	}
	kind, ok := api.Kind(k)
	if !ok {
		h.fail(w, fmt.Errorf("%w: kind: must be service, httproute, trafficpolicy or authorizationpolicy; got %q", ErrInvalid, k))
	}
	return kind, ok
}

func (h *handler) resources(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	res, err := h.b.Resources(r.Context(), kind, r.PathValue("namespace"), r.PathValue("name"))
	if err == nil && r.PathValue("name") != "" {
		if len(res) == 0 {
			err = fmt.Errorf("%w: %s %s/%s", ErrNotFound, kind, r.PathValue("namespace"), r.PathValue("name"))
		} else {
			h.reply(w, res[0], nil)
			return
		}
	}
	if res == nil {
		res = []api.Resource{}
	}
	h.reply(w, res, err)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	res, err := h.b.Delete(r.Context(), kind, r.PathValue("namespace"), r.PathValue("name"), dryRun(r))
	h.reply(w, res, err)
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	res, err := h.b.History(r.Context())
	h.reply(w, res, err)
}

func (h *handler) rollback(w http.ResponseWriter, r *http.Request) {
	rev, err := strconv.ParseInt(r.PathValue("revision"), 10, 64)
	if err != nil || rev < 1 {
		h.fail(w, fmt.Errorf("%w: revision: must be a positive integer; got %q", ErrInvalid, r.PathValue("revision")))
		return
	}
	res, err := h.b.Rollback(r.Context(), rev, dryRun(r))
	h.reply(w, res, err)
}

func (h *handler) proxies(w http.ResponseWriter, r *http.Request) {
	h.reply(w, h.b.Proxies(r.Context()), nil)
}

func (h *handler) instances(w http.ResponseWriter, r *http.Request) {
	res, err := h.b.Instances(r.Context(), r.URL.Query().Get("service"))
	h.reply(w, res, err)
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	var reg api.Registration
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reg); err != nil {
		h.fail(w, fmt.Errorf("%w: body: %w", ErrInvalid, err))
		return
	}
	res, err := h.b.Register(r.Context(), reg)
	h.reply(w, res, err)
}

func (h *handler) deregister(w http.ResponseWriter, r *http.Request) {
	lease, _ := strconv.ParseInt(r.URL.Query().Get("lease"), 10, 64)
	err := h.b.Deregister(r.Context(), r.PathValue("service"), r.PathValue("id"), lease)
	h.reply(w, struct{}{}, err)
}

func (h *handler) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		h.log.Debug("write reply", "err", err)
	}
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, ErrUnauthenticated):
		code = http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		code = http.StatusForbidden
	case errors.Is(err, errBusy):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	if code == http.StatusInternalServerError {
		h.log.Error("request failed", "err", err)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, sentinel := range []error{ErrInvalid, ErrNotFound, ErrConflict, ErrUnauthenticated, ErrForbidden, errBusy} {
		lines[0] = strings.TrimPrefix(lines[0], sentinel.Error()+": ")
	}
	body := api.Error{Error: lines[0]}
	if len(lines) > 1 {
		body.Details = lines[1:]
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}
