package tap

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Line is one line of a tap stream (NDJSON): an event, the session's
// counters, or why the stream ended.
type Line struct {
	Event *Event `json:"event,omitempty"`
	Stats *Stats `json:"stats,omitempty"`
	// End is why the stream ended: "duration" (the session's time was
	// up) or "shutdown" (the sidecar is stopping).
	End string `json:"end,omitempty"`
}

// StatsInterval is how often a stream reports its counters; it doubles
// as a heartbeat a reader can time out on.
const StatsInterval = 2 * time.Second

// writeTimeout bounds one write to a stream's reader: a reader that stops
// reading loses its session rather than holding it.
const writeTimeout = 10 * time.Second

// Handler serves GET /tap on the admin port: a session whose options
// are the query's (see ParseQuery), streamed as NDJSON Lines until its
// duration ends, the client goes away or stop closes.
func Handler(h *Hub, stop <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := ParseQuery(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s, err := h.Open(o)
		if errors.Is(err, ErrTooManySessions) {
			http.Error(w, "tap: this sidecar already has its most sessions open (8); try later", http.StatusTooManyRequests)
			return
		}
		defer s.Close()
		serveSession(w, r, s, o.Duration, stop)
	})
}

func serveSession(w http.ResponseWriter, r *http.Request, s *Session, d time.Duration, stop <-chan struct{}) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriterSize(w, 16<<10)
	enc := json.NewEncoder(bw)
	flush := func() bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		return bw.Flush() == nil && rc.Flush() == nil
	}
	// The server's read timeout would end a long stream: a stream's
	// request is read, and its end is seen as the context's.
	rc.SetReadDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	if !flush() {
		return
	}
	end := time.NewTimer(d)
	defer end.Stop()
	tick := time.NewTicker(StatsInterval)
	defer tick.Stop()
	finish := func(why string) {
		st := s.Stats()
		enc.Encode(Line{Stats: &st})
		enc.Encode(Line{End: why})
		flush()
	}
	for {
		select {
		case ev := <-s.Events():
			if enc.Encode(Line{Event: &ev}) != nil {
				return
			}
			// Take what else is waiting before one flush.
			for more := true; more && bw.Buffered() < 12<<10; {
				select {
				case ev = <-s.Events():
					enc.Encode(Line{Event: &ev})
				default:
					more = false
				}
			}
			if !flush() {
				return
			}
		case <-tick.C:
			st := s.Stats()
			if enc.Encode(Line{Stats: &st}) != nil || !flush() {
				return
			}
		case <-end.C:
			finish("duration")
			return
		case <-stop:
			finish("shutdown")
			return
		case <-r.Context().Done():
			return
		}
	}
}
