package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/weft-mesh/weft/internal/api"
)

// runStat prints golden signals per service and version, like
// `linkerd viz stat`, from the control plane's scrapes of the sidecars.
func runStat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("stat", stderr)
	server := serverFlag(fs)
	out := fs.String("o", "table", "output: table or json")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		fmt.Fprintln(stderr, "usage: weft stat [SERVICE] [-o json]")
		return errUsage
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	st, err := c.Stats(ctx)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		st.Services = filterServices(st.Services, pos[0])
		st.Certificates = filterCerts(st.Certificates, pos[0])
		if len(st.Services) == 0 {
			return fmt.Errorf("service %q has no instances with stats (weft get instances %s lists its instances; stats need their sidecars' admin listener)", pos[0], pos[0])
		}
	}
	if *out == "json" {
		return writeJSON(stdout, st)
	}
	return printStat(stdout, st)
}

func filterServices(ss []api.ServiceStats, name string) []api.ServiceStats {
	var out []api.ServiceStats
	for _, s := range ss {
		if s.Service == name || strings.TrimSuffix(name, ".default") == s.Service {
			out = append(out, s)
		}
	}
	return out
}

func printStat(w io.Writer, st api.Stats) error {
	fmt.Fprintf(w, "%s\n", statHeader(st))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tVERSION\tINSTANCES\tSUCCESS\tRPS\tP50\tP95\tP99\tREQUESTS")
	for _, s := range st.Services {
		v := s.Version
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.Service, v, s.Instances, goldenCols(s.Golden))
	}
	return tw.Flush()
}

func statHeader(st api.Stats) string {
	if st.WindowSeconds == 0 {
		return "no figures yet: the control plane needs two scrapes of the sidecars (every 5s by default)"
	}
	h := fmt.Sprintf("last %s, from %d sidecars", (time.Duration(st.WindowSeconds) * time.Second).String(), st.Sidecars)
	if st.Unreachable > 0 {
		h += fmt.Sprintf(" (%d did not answer: their admin listener must be reachable from the control plane)", st.Unreachable)
	}
	return h
}

func goldenCols(g api.Golden) string {
	if g.Requests == 0 {
		return "-\t0.0\t-\t-\t-\t0"
	}
	return fmt.Sprintf("%.2f%%\t%.1f\t%s\t%s\t%s\t%d", 100*g.SuccessRate, g.RPS, ms(g.P50Ms), ms(g.P95Ms), ms(g.P99Ms), g.Requests)
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// runEdges prints the call graph: caller -> callee with its signals, as
// the callers' sidecars report them.
func runEdges(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("edges", stderr)
	server := serverFlag(fs)
	out := fs.String("o", "table", "output: table or json")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		fmt.Fprintln(stderr, "usage: weft edges [SERVICE] [-o json]")
		return errUsage
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	st, err := c.Stats(ctx)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		var keep []api.EdgeStats
		for _, e := range st.Edges {
			if e.Source == pos[0] || e.Destination == pos[0] {
				keep = append(keep, e)
			}
		}
		st.Edges = keep
	}
	if *out == "json" {
		return writeJSON(stdout, st.Edges)
	}
	fmt.Fprintf(stdout, "%s\n", statHeader(st))
	return printEdges(stdout, st.Edges)
}

func printEdges(w io.Writer, edges []api.EdgeStats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tSUCCESS\tRPS\tP50\tP95\tP99\tREQUESTS")
	byCallee := false
	for _, e := range edges {
		from := e.Source
		if e.Reporter == "destination" {
			from, byCallee = from+"*", true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", from, e.Destination, goldenCols(e.Golden))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if byCallee {
		_, err := fmt.Fprintln(w, "* no sidecar of this caller is scraped: as its callee's sidecar saw it")
		return err
	}
	return nil
}

// runTop repeats weft stat and weft edges every interval until
// interrupted (or --count times).
func runTop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("top", stderr)
	server := serverFlag(fs)
	every := fs.Duration("interval", 2*time.Second, "refresh interval")
	count := fs.Int("count", 0, "stop after this many refreshes (0: until Ctrl-C)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	t := time.NewTicker(*every)
	defer t.Stop()
	for i := 0; *count == 0 || i < *count; i++ {
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, "\x1b[H\x1b[2J") // clear the screen, as top does
		if err := printStat(stdout, st); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		if err := printEdges(stdout, st.Edges); err != nil {
			return err
		}
		if *count != 0 && i == *count-1 {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	return nil
}
