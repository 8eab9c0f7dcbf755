package meshtap

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
)

// mergeBuffer caps lines between the sidecars' readers and the client.
const mergeBuffer = 256

// endGrace is how long past its duration a tap waits for its sidecars'
// closing lines.
const endGrace = 2 * time.Second

// maxLine caps one line from a sidecar.
const maxLine = 64 << 10

// merge is one tap's state, owned by its run goroutine.
type merge struct {
	q      api.TapQuery
	o      tap.Options
	emit   func(api.TapLine) error
	bucket *tap.Bucket
	// stats are each sidecar's last counters; own are the control
	// plane's (its rate cap, its full buffer).
	stats   map[string]api.TapStats
	ended   map[string]bool
	limited uint64
	dropped dropCounter
	sent    uint64
}

type dropCounter struct {
	mu sync.Mutex
	n  uint64
}

func (d *dropCounter) add() {
	d.mu.Lock()
	d.n++
	d.mu.Unlock()
}

func (d *dropCounter) load() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

func (m *merge) run(parent context.Context, t *Tapper, ins []api.Instance, v url.Values) error {
	// The sidecars end their sessions at the duration, each with its
	// final counters; the grace lets those arrive before the tap ends.
	ctx, cancel := context.WithTimeout(parent, m.o.Duration+endGrace)
	lines := make(chan api.TapLine, mergeBuffer)
	var wg sync.WaitGroup
	// Every reader is stopped and waited for before Tap returns: a client
	// that goes away leaves nothing behind.
	defer wg.Wait()
	defer cancel()
	for _, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := in.Service + "/" + in.ID
			if err := t.stream(ctx, in.Admin, v, name, lines, &m.dropped); err != nil && ctx.Err() == nil {
				send(ctx, lines, api.TapLine{Instance: name, Error: err.Error()})
			}
		}()
	}
	tick := time.NewTicker(tap.StatsInterval)
	defer tick.Stop()
	for {
		select {
		case l := <-lines:
			done, err := m.line(l, len(ins))
			if err != nil || done != "" {
				if err == nil && done != "" {
					err = m.finish(done)
				}
				return err
			}
		case <-tick.C:
			if err := m.emit(api.TapLine{Stats: m.total()}); err != nil {
				return err
			}
		case <-ctx.Done():
			if parent.Err() != nil {
				return nil // the client went away
			}
			return m.finish("duration")
		}
	}
}

// line handles one sidecar line; done is set when the tap is over.
func (m *merge) line(l api.TapLine, sidecars int) (done string, err error) {
	switch {
	case l.Event != nil:
		if !m.bucket.Allow(time.Now()) {
			m.limited++
			return "", nil
		}
		m.sent++
		if err := m.emit(l); err != nil {
			return "", err
		}
		if m.q.Max > 0 && m.sent >= uint64(m.q.Max) {
			return "max", nil
		}
	case l.Stats != nil:
		m.stats[l.Instance] = *l.Stats
	case l.End != "":
		m.ended[l.Instance] = true
		if len(m.ended) == sidecars {
			return l.End, nil
		}
	case l.Error != "":
		m.ended[l.Instance] = true
		if err := m.emit(l); err != nil {
			return "", err
		}
		if len(m.ended) == sidecars {
			return "", fmt.Errorf("every sidecar's stream ended in an error")
		}
	}
	return "", nil
}

func (m *merge) total() *api.TapStats {
	s := api.TapStats{RateLimited: m.limited, Dropped: m.dropped.load(), Sent: m.sent}
	for _, st := range m.stats {
		s.Matched += st.Matched
		s.RateLimited += st.RateLimited
		s.Dropped += st.Dropped
	}
	// Sidecars report every StatsInterval: between reports, what the
	// control plane counted itself is the better lower bound.
	s.Matched = max(s.Matched, s.Sent+s.RateLimited+s.Dropped)
	return &s
}

func (m *merge) finish(why string) error {
	if err := m.emit(api.TapLine{Stats: m.total()}); err != nil {
		return err
	}
	return m.emit(api.TapLine{End: why})
}

// send hands a line that must not be lost (an error, counters) to the
// merger, unless the tap is over.
func send(ctx context.Context, lines chan<- api.TapLine, l api.TapLine) {
	select {
	case lines <- l:
	case <-ctx.Done():
	}
}

// stream reads one sidecar's tap until it ends or ctx does.
func (t *Tapper) stream(ctx context.Context, admin string, v url.Values, name string, lines chan<- api.TapLine, dropped *dropCounter) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/tap?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := t.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("tap sidecar %s: %w", admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b [512]byte
		n, _ := resp.Body.Read(b[:])
		return fmt.Errorf("tap sidecar %s: %s: %s", admin, resp.Status, trimLine(b[:n]))
	}
	// A sidecar that stops sending (not even its counters) is dropped.
	idle := time.AfterFunc(t.cfg.IdleTimeout, func() { cancel(errSilent) })
	defer idle.Stop()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		idle.Reset(t.cfg.IdleTimeout)
		var l api.TapLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("tap sidecar %s: decode line: %w", admin, err)
		}
		l.Instance = name
		if l.Event != nil {
			select {
			case lines <- l:
			default:
				dropped.add()
			}
			continue
		}
		send(ctx, lines, l)
		if l.End != "" {
			return nil
		}
	}
	switch {
	case errors.Is(context.Cause(ctx), errSilent):
		return fmt.Errorf("tap sidecar %s: %w for %s", admin, errSilent, t.cfg.IdleTimeout)
	case ctx.Err() != nil:
		return nil
	case sc.Err() != nil:
		return fmt.Errorf("tap sidecar %s: %w", admin, sc.Err())
	}
	return fmt.Errorf("tap sidecar %s: stream ended without an end line", admin)
}

var errSilent = errors.New("silent")

// trimLine is an error body fit for one line.
func trimLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
