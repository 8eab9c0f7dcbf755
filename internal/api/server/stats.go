package server

import "net/http"

func (h *handler) stats(w http.ResponseWriter, r *http.Request) {
	res, err := h.b.Stats(r.Context())
	h.reply(w, res, err)
}
