package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/weft-mesh/weft/internal/api"
)

// maxSVIDBody caps an SVID request: a CSR, a short chain and a signature.
const maxSVIDBody = 64 << 10

func (h *handler) svid(w http.ResponseWriter, r *http.Request) {
	var req api.SVIDRequest
	if !decodeStrict(h, w, r, maxSVIDBody, &req) {
		return
	}
	var peer [][]byte
	// A verified TLS client certificate is the current SVID: the handshake
	// proved its key, so no Proof is needed.
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		for _, c := range r.TLS.PeerCertificates {
			peer = append(peer, c.Raw)
		}
	}
	res, err := h.b.SVID(r.Context(), req, peer)
	h.reply(w, res, err)
}

func (h *handler) bundle(w http.ResponseWriter, r *http.Request) {
	res, err := h.b.Bundle(r.Context())
	h.reply(w, res, err)
}

func (h *handler) token(w http.ResponseWriter, r *http.Request) {
	var req api.TokenRequest
	if !decodeStrict(h, w, r, 4<<10, &req) {
		return
	}
	res, err := h.b.CreateToken(r.Context(), req)
	if err == nil {
		// The secret is in this answer alone: keep it out of caches.
		w.Header().Set("Cache-Control", "no-store")
	}
	h.reply(w, res, err)
}

func decodeStrict(h *handler, w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		h.fail(w, fmt.Errorf("%w: body: %w", ErrInvalid, err))
		return false
	}
	return true
}

// maxRotateBody caps a rotation request: a root certificate and its key.
const maxRotateBody = 64 << 10

func (h *handler) rotateCA(w http.ResponseWriter, r *http.Request) {
	var req api.CARotateRequest
	if !decodeStrict(h, w, r, maxRotateBody, &req) {
		return
	}
	res, err := h.b.RotateCA(r.Context(), req)
	h.reply(w, res, err)
}

func (h *handler) caStatus(w http.ResponseWriter, r *http.Request) {
	res, err := h.b.CAStatus(r.Context())
	h.reply(w, res, err)
}
