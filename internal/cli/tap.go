package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/weft-mesh/weft/internal/api"
)

const tapUsage = "usage: weft tap SERVICE [--direction inbound|outbound] [--path PREFIX] [--method M] [--status 404|5xx] [--rate N] [--max N] [--duration D] [-o json]"

// errTapMax stops the stream once --max events are printed.
var errTapMax = errors.New("tap: max reached")

// runTap prints live request metadata from a service's sidecars, one
// line per request, like `linkerd viz tap`.
func runTap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tap", stderr)
	server := serverFlag(fs)
	var q api.TapQuery
	fs.StringVar(&q.Direction, "direction", "", "inbound (requests the service received) or outbound (requests it sent); default both")
	fs.StringVar(&q.Path, "path", "", "only requests whose path starts with this prefix")
	fs.StringVar(&q.Method, "method", "", "only requests with this method (GET, POST, ...)")
	fs.StringVar(&q.Status, "status", "", "only responses with this status (404) or class (5xx)")
	fs.IntVar(&q.Rate, "rate", 0, "most events per second over all the service's sidecars (default 100, at most 1000)")
	fs.IntVar(&q.Max, "max", 0, "stop after this many requests (0: no limit)")
	fs.DurationVar(&q.Duration, "duration", 0, "stop after this long (default and most: 30m)")
	out := fs.String("o", "text", "output: text, or json (the stream's NDJSON lines)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (*out != "text" && *out != "json") || q.Max < 0 || q.Rate < 0 || q.Duration < 0 {
		fmt.Fprintln(stderr, tapUsage)
		return errUsage
	}
	q.Service = pos[0]
	c, err := server.client()
	if err != nil {
		return err
	}
	shown := 0
	var last *api.TapStats
	end := ""
	err = c.Tap(ctx, q, func(l api.TapLine) error {
		if l.Event != nil {
			// The control plane ends the stream after --max events with
			// its closing counters; one sending more is cut off here.
			if q.Max > 0 && shown >= q.Max {
				return errTapMax
			}
			shown++
		}
		switch {
		case *out == "json":
			b, err := json.Marshal(l)
			if err != nil {
				return err
			}
			if _, err := stdout.Write(append(b, '\n')); err != nil {
				return err
			}
		case l.Event != nil:
			if _, err := fmt.Fprintln(stdout, tapLine(shown, l.Instance, l.Event)); err != nil {
				return err
			}
		case l.Error != "":
			fmt.Fprintf(stderr, "%s: %s\n", l.Instance, l.Error)
		}
		if l.Stats != nil {
			last = l.Stats
		}
		if l.End != "" {
			end = l.End
		}
		return nil
	})
	if errors.Is(err, errTapMax) {
		end, err = "max", nil
	}
	if err != nil {
		return err
	}
	if *out == "text" {
		if end == "" {
			end = "interrupted"
		}
		if last == nil {
			fmt.Fprintf(stderr, "tap ended (%s): %d requests shown\n", end, shown)
		} else {
			fmt.Fprintf(stderr, "tap ended (%s): %d requests shown; the sidecars matched %d, %d over the rate cap, %d dropped (buffers full)\n",
				end, shown, last.Matched, last.RateLimited, last.Dropped)
		}
	}
	return nil
}

// tapLine renders one event like linkerd tap's lines: key=value pairs,
// pseudo-headers for the request's parts.
func tapLine(id int, instance string, e *api.TapEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "req id=%d %s %s src=%s dst=%s :method=%s :authority=%s :path=%s :status=%d",
		id, e.Time.UTC().Format("15:04:05.000"), e.Direction, tapPeer(e.Source), tapPeer(e.Destination),
		printable(e.Method), printable(e.Authority), printable(e.Path), e.Status)
	if e.GRPCStatus >= 0 {
		b.WriteString(" grpc-status=" + strconv.Itoa(e.GRPCStatus))
	}
	fmt.Fprintf(&b, " latency=%s bytes=%d/%d", time.Duration(e.DurationMs*float64(time.Millisecond)).Round(time.Microsecond), e.RequestBytes, e.ResponseBytes)
	if e.ResponseFlags != "" {
		b.WriteString(" flags=" + e.ResponseFlags)
	}
	if e.Upstream != "" {
		b.WriteString(" upstream=" + e.Upstream)
	}
	if e.TraceID != "" {
		b.WriteString(" trace=" + e.TraceID)
	}
	b.WriteString(" sidecar=" + instance)
	return b.String()
}

// printable is s, or s quoted when it holds a space or a character that
// is not printable: the values come from clients, and a terminal must
// not receive their escape sequences.
func printable(s string) string {
	for _, r := range s {
		if r == ' ' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// tapPeer names one side: its service or workload, with its version.
func tapPeer(p api.TapPeer) string {
	name := p.Service
	if name == "" {
		name = p.Workload
	}
	if name == "" {
		name = p.Principal
	}
	if name == "" {
		return "unknown"
	}
	if p.Version != "" {
		name += "(" + p.Version + ")"
	}
	return printable(name)
}
