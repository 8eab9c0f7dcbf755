package tap

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits of one session.
const (
	// DefaultRate is a session's events per second unless it asks for
	// another; MaxRate is the most it may ask for.
	DefaultRate = 100
	MaxRate     = 1000
	// MaxDuration is the longest session (and the default).
	MaxDuration = 30 * time.Minute
	// BufferSize is the events a session holds before its reader takes
	// them; past it, events are dropped and counted.
	BufferSize = 256
)

// Filter selects the events of a session. Zero fields match everything.
type Filter struct {
	// Direction is "inbound", "outbound" or "" (both).
	Direction string
	// PathPrefix matches the path (without its query) by prefix.
	PathPrefix string
	// Method matches exactly (GET, POST, ...).
	Method string
	// Status is one status code (404), or StatusClass a class (4 for 4xx).
	Status      int
	StatusClass int
}

// Match reports whether ev passes the filter.
func (f *Filter) Match(ev *Event) bool {
	switch {
	case f.Direction != "" && ev.Direction != f.Direction,
		f.Method != "" && ev.Method != f.Method,
		f.PathPrefix != "" && !strings.HasPrefix(ev.Path, f.PathPrefix),
		f.Status != 0 && ev.Status != f.Status,
		f.StatusClass != 0 && ev.Status/100 != f.StatusClass:
		return false
	}
	return true
}

// Options are one session's filter and limits.
type Options struct {
	Filter Filter
	// Rate caps events per second (burst: one second's worth); 0 means
	// DefaultRate.
	Rate int
	// Duration ends the session; 0 means MaxDuration.
	Duration time.Duration
}

// ParseQuery reads a session's options from URL query parameters:
// direction, path, method, status (404 or 4xx), rate (events/s) and
// duration (Go syntax, 30s). An error names the parameter and the reason.
func ParseQuery(q url.Values) (Options, error) {
	var o Options
	for k := range q {
		switch k {
		case "direction", "path", "method", "status", "rate", "duration":
		default:
			return o, fmt.Errorf("tap parameter %q: unknown (known: direction, path, method, status, rate, duration)", k)
		}
	}
	switch d := q.Get("direction"); d {
	case "", "inbound", "outbound":
		o.Filter.Direction = d
	default:
		return o, fmt.Errorf("tap parameter direction %q: want inbound or outbound", d)
	}
	if p := q.Get("path"); p != "" {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#") || len(p) > MaxPath {
			return o, fmt.Errorf("tap parameter path %q: want a path prefix starting with / (no query), at most %d bytes", p, MaxPath)
		}
		o.Filter.PathPrefix = p
	}
	if m := q.Get("method"); m != "" {
		if len(m) > 32 || strings.IndexFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			return o, fmt.Errorf("tap parameter method %q: want an upper-case HTTP method such as GET", m)
		}
		o.Filter.Method = m
	}
	if s := q.Get("status"); s != "" {
		var err error
		if o.Filter.Status, o.Filter.StatusClass, err = parseStatus(s); err != nil {
			return o, err
		}
	}
	if r := q.Get("rate"); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 1 || n > MaxRate {
			return o, fmt.Errorf("tap parameter rate %q: want events per second from 1 to %d", r, MaxRate)
		}
		o.Rate = n
	}
	if d := q.Get("duration"); d != "" {
		v, err := time.ParseDuration(d)
		if err != nil || v <= 0 || v > MaxDuration {
			return o, fmt.Errorf("tap parameter duration %q: want a Go duration above 0 and at most %s", d, MaxDuration)
		}
		o.Duration = v
	}
	return o.withDefaults(), nil
}

func parseStatus(s string) (code, class int, err error) {
	if len(s) == 3 && s[0] >= '1' && s[0] <= '5' && (s[1:] == "xx" || s[1:] == "XX") {
		return 0, int(s[0] - '0'), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, 0, fmt.Errorf("tap parameter status %q: want a code from 100 to 599 or a class such as 5xx", s)
	}
	return n, 0, nil
}

func (o Options) withDefaults() Options {
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	o.Rate = min(o.Rate, MaxRate)
	if o.Duration <= 0 || o.Duration > MaxDuration {
		o.Duration = MaxDuration
	}
	return o
}

// Query is o as ParseQuery reads it back.
func (o Options) Query() url.Values {
	q := url.Values{}
	f := o.Filter
	if f.Direction != "" {
		q.Set("direction", f.Direction)
	}
	if f.PathPrefix != "" {
		q.Set("path", f.PathPrefix)
	}
	if f.Method != "" {
		q.Set("method", f.Method)
	}
	if f.Status != 0 {
		q.Set("status", strconv.Itoa(f.Status))
	} else if f.StatusClass != 0 {
		q.Set("status", strconv.Itoa(f.StatusClass)+"xx")
	}
	if o.Rate != 0 {
		q.Set("rate", strconv.Itoa(o.Rate))
	}
	if o.Duration != 0 {
		q.Set("duration", o.Duration.String())
	}
	return q
}
