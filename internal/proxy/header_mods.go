package proxy

import (
	"bufio"
	"net/http"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// h2ApplyMods applies a route's header edits to an HTTP/2 (or bridged)
// message: remove, then set, then add, as Gateway API orders them.
func h2ApplyMods(h http.Header, m *route.HeaderMods) {
	if m == nil {
		return
	}
	for _, n := range m.Remove {
		h.Del(n)
	}
	for _, s := range m.Set {
		h.Set(s.Name, s.Value)
	}
	for _, a := range m.Add {
		h.Add(a.Name, a.Value)
	}
}

// writeModHeaders writes the Set and Add headers of a route's edits; the
// message's own copies of Set's and Remove's headers were left out by
// Drops. Allocation-free: names and values are the compiled strings.
func writeModHeaders(w *bufio.Writer, m *route.HeaderMods) {
	if m == nil {
		return
	}
	for _, hs := range [2][]route.HeaderValue{m.Set, m.Add} {
		for _, h := range hs {
			w.WriteString(h.Name)
			w.WriteString(": ")
			w.WriteString(h.Value)
			w.WriteString("\r\n")
		}
	}
}
