package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
)

// defaultServer is the control plane's API address unless --server or
// WEFT_SERVER says otherwise.
func defaultServer() string {
	if s := os.Getenv("WEFT_SERVER"); s != "" {
		return s
	}
	return "127.0.0.1:15080"
}

// stdin is swapped by tests.
var stdin io.Reader = os.Stdin

// parseInterleaved parses flags that may follow positional arguments
// (`weft get routes -o yaml`), as kubectl users expect.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apply", stderr)
	server := serverFlag(fs)
	file := fs.String("f", "", "file, directory or - (stdin) of resources in YAML or JSON")
	dry := fs.Bool("dry-run", false, "validate and print the diff; change nothing")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *file == "" || len(pos) > 0 {
		fmt.Fprintln(stderr, "usage: weft apply -f FILE|DIR|- [--dry-run]")
		return errUsage
	}
	docs, err := readManifests(*file, stdin)
	if err != nil {
		return err
	}
	b, err := body(docs)
	if err != nil {
		return err
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	res, err := c.Apply(ctx, b, *dry)
	var ae *apiclient.Error
	if errors.As(err, &ae) && ae.Code == http.StatusBadRequest {
		// The control plane decides; the CLI only adds where each
		// problem is, which the control plane never saw.
		if located := locate(docs); located != nil {
			return located
		}
	}
	if err != nil {
		return err
	}
	printResult(stdout, res)
	return nil
}

func printResult(w io.Writer, res api.ApplyResult) {
	for _, ch := range res.Changes {
		suffix := ""
		if res.DryRun {
			suffix = " (dry run)"
		}
		fmt.Fprintf(w, "%s %s%s\n", ch.Key, ch.Action, suffix)
		if res.DryRun && ch.Diff != "" {
			printDiff(w, ch.Diff, ch.Action == "configured")
		}
	}
	for _, wr := range res.Warnings {
		fmt.Fprintln(w, "warning:", wr)
	}
	if !res.DryRun {
		fmt.Fprintf(w, "config revision %d\n", res.Revision)
	}
}

// object is the part of a stored resource that tables show.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name, Namespace, ResourceVersion string
		Generation                       int64
	} `json:"metadata"`
	Status struct {
		Conditions []struct{ Type, Status, Reason, Message string } `json:"conditions"`
	} `json:"status"`
}

func (o *object) condition(t string) (string, string) {
	for _, c := range o.Status.Conditions {
		if c.Type == t {
			return c.Status, c.Message
		}
	}
	return "", ""
}

func runGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("get", stderr)
	server := serverFlag(fs)
	ns := fs.String("n", "default", "namespace")
	out := fs.String("o", "table", "output: table, yaml or json")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fmt.Fprintln(stderr, "usage: weft get KIND [NAME] [-o yaml|json]\n  KIND: services, routes, policies, proxies, instances, all")
		return errUsage
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	switch strings.ToLower(pos[0]) {
	case "proxies", "proxy", "proxy-status":
		ps, errs := c.AllProxies(ctx)
		for _, err := range errs {
			fmt.Fprintln(stderr, "warning: replica not answering:", err)
		}
		if len(ps) == 0 && len(errs) > 0 {
			return errs[0]
		}
		return printProxies(stdout, ps, *out)
	case "instances", "instance", "endpoints":
		svc := ""
		if len(pos) == 2 {
			svc = pos[1]
		}
		ins, err := c.Instances(ctx, svc)
		if err != nil {
			return err
		}
		var certs map[string]api.CertificateStatus
		if *out != "json" {
			certs = instanceCerts(ctx, c, stderr)
		}
		return printInstances(stdout, ins, certs, *out)
	}
	kind := ""
	if strings.ToLower(pos[0]) != "all" {
		k, ok := api.Kind(pos[0])
		if !ok {
			return fmt.Errorf("unknown kind %q: want services, routes, policies, proxies, instances or all", pos[0])
		}
		kind = k
	}
	var raws []api.Resource
	if len(pos) == 2 {
		if kind == "" {
			return fmt.Errorf("get all takes no name")
		}
		r, err := c.Get(ctx, kind, *ns, pos[1])
		if err != nil {
			return notFound(err, kind, *ns, pos[1])
		}
		raws = []api.Resource{r}
	} else if raws, err = c.List(ctx, kind); err != nil {
		return err
	}
	switch *out {
	case "json":
		return writeJSON(stdout, raws)
	case "yaml":
		return writeYAML(stdout, raws)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tREVISION\tREFS\tPROGRAMMED")
	for _, raw := range raws {
		var o object
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		refs, _ := o.condition("ResolvedRefs")
		if s, _ := o.condition("Conflicted"); s == "True" {
			refs = "Conflicted"
		}
		prog, msg := o.condition("Programmed")
		if n, _, ok := strings.Cut(msg, " sidecars"); ok {
			prog += " (" + n + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Kind, o.Metadata.Namespace, o.Metadata.Name, o.Metadata.ResourceVersion, refs, prog)
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeYAML(w io.Writer, raws []api.Resource) error {
	for i, raw := range raws {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		enc.Close()
	}
	return nil
}

func printProxies(w io.Writer, ps []api.Proxy, out string) error {
	switch out {
	case "json":
		return writeJSON(w, ps)
	case "yaml":
		raw, err := json.Marshal(ps)
		if err != nil {
			return err
		}
		return writeYAML(w, []api.Resource{raw})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATUS\tVERSION\tCONNECTED\tREPLICA\tDETAIL")
	for _, p := range ps {
		detail := ""
		if len(p.NACKs) > 0 {
			var ks []string
			for k, v := range p.NACKs {
				ks = append(ks, k+": "+v)
			}
			sort.Strings(ks)
			detail = strings.Join(ks, "; ")
		} else if len(p.Missing) > 0 {
			// What it asked for and did not get: it cannot route there.
			var ks []string
			for k, names := range p.Missing {
				ks = append(ks, k+" "+strings.Join(names, ","))
			}
			sort.Strings(ks)
			detail = "missing " + strings.Join(ks, "; ")
		} else if p.State == api.Stale {
			var ks []string
			for k, v := range p.Acked {
				ks = append(ks, k+"="+v)
			}
			sort.Strings(ks)
			detail = "acked " + strings.Join(ks, " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Node, p.State, p.Version, since(p.Connected), p.Replica, detail)
	}
	return tw.Flush()
}

func since(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// printInstances lists instances; certs (by service/id, from the stats)
// fill the CERT column.
func printInstances(w io.Writer, ins []api.Instance, certs map[string]api.CertificateStatus, out string) error {
	if out == "json" {
		return writeJSON(w, ins)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tID\tADDRESS\tREADY\tLABELS\tCERT\tNOTE")
	for _, in := range ins {
		var ls []string
		for k, v := range in.Labels {
			ls = append(ls, k+"="+v)
		}
		sort.Strings(ls)
		// A disconnected instance gets no traffic whatever its probe said.
		note := ""
		if in.Disconnected {
			note = "disconnected: its sidecar's xDS stream dropped (restored when it reconnects or heartbeats)"
		} else if !in.Ready {
			note = "its app's probe fails"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s:%d\t%v\t%s\t%s\t%s\n", in.Service, in.ID, in.Address, in.Port, in.Ready && !in.Disconnected, strings.Join(ls, ","), certCol(certs, in), note)
	}
	return tw.Flush()
}

func runDescribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("describe", stderr)
	server := serverFlag(fs)
	ns := fs.String("n", "default", "namespace")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	kind, err := kindName(pos, stderr, "usage: weft describe KIND NAME")
	if err != nil {
		return err
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	raw, err := c.Get(ctx, kind, *ns, pos[1])
	if err != nil {
		return notFound(err, kind, *ns, pos[1])
	}
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s/%s (config revision %s, generation %d)\n\nConditions:\n", o.Kind, o.Metadata.Namespace, o.Metadata.Name, o.Metadata.ResourceVersion, o.Metadata.Generation)
	for _, cd := range o.Status.Conditions {
		fmt.Fprintf(stdout, "  %-13s %-7s %s\n", cd.Type, cd.Status, cd.Message)
	}
	var v map[string]any
	json.Unmarshal(raw, &v)
	fmt.Fprintln(stdout, "\nSpec:")
	enc := yaml.NewEncoder(indent(stdout))
	enc.SetIndent(2)
	enc.Encode(v["spec"])
	enc.Close()
	if kind == "Service" {
		ins, err := c.Instances(ctx, pos[1])
		if err != nil {
			return err
		}
		spec, _ := v["spec"].(map[string]any)
		describeInboundMTLS(stdout, spec, ins)
		fmt.Fprintln(stdout, "\nInstances:")
		if len(ins) == 0 {
			fmt.Fprintln(stdout, "  none registered")
		} else {
			printInstances(indent(stdout), ins, instanceCerts(ctx, c, stderr), "table")
		}
		routes, err := c.List(ctx, "HTTPRoute")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "\nRoutes to it:")
		n := 0
		for _, r := range routes {
			var rt struct {
				Metadata struct{ Name, Namespace string }
				Spec     struct {
					ParentRefs []struct{ Name string }
				}
			}
			json.Unmarshal(r, &rt)
			for _, p := range rt.Spec.ParentRefs {
				if p.Name == pos[1] && rt.Metadata.Namespace == *ns {
					fmt.Fprintf(stdout, "  HTTPRoute/%s\n", rt.Metadata.Name)
					n++
				}
			}
		}
		if n == 0 {
			fmt.Fprintln(stdout, "  none: every request goes to all ready instances")
		}
	}
	return nil
}

// indentWriter indents every line by two spaces. Writers such as the YAML
// encoder write a line in several pieces, so the indent goes where a line
// starts, not where a Write does.
type indentWriter struct {
	w       io.Writer
	midLine bool
}

func indent(w io.Writer) *indentWriter { return &indentWriter{w: w} }

func (iw *indentWriter) Write(p []byte) (int, error) {
	var b []byte
	for _, c := range p {
		if !iw.midLine && c != '\n' {
			b = append(b, ' ', ' ')
		}
		b = append(b, c)
		iw.midLine = c != '\n'
	}
	if _, err := iw.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

func runDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("delete", stderr)
	server := serverFlag(fs)
	ns := fs.String("n", "default", "namespace")
	dry := fs.Bool("dry-run", false, "print what would change; change nothing")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	kind, err := kindName(pos, stderr, "usage: weft delete KIND NAME [--dry-run]")
	if err != nil {
		return err
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	res, err := c.Delete(ctx, kind, *ns, pos[1], *dry)
	if err != nil {
		return notFound(err, kind, *ns, pos[1])
	}
	printResult(stdout, res)
	return nil
}

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("history", stderr)
	server := serverFlag(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "usage: weft history")
		return errUsage
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	h, err := c.History(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tTIME\tOP\tRESOURCES\tCHANGES")
	for _, r := range h {
		var chs []string
		for _, ch := range r.Changes {
			chs = append(chs, ch.Key+" "+ch.Action)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", r.Revision, r.Time.Local().Format("2006-01-02 15:04:05"), r.Op, r.Resources, strings.Join(chs, ", "))
	}
	return tw.Flush()
}

func runRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", stderr)
	server := serverFlag(fs)
	dry := fs.Bool("dry-run", false, "print the diff; change nothing")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: weft rollback REVISION [--dry-run]")
		return errUsage
	}
	rev, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || rev < 1 {
		return fmt.Errorf("revision: must be a positive integer; got %q", pos[0])
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	res, err := c.Rollback(ctx, rev, *dry)
	if err != nil {
		return err
	}
	printResult(stdout, res)
	return nil
}

// diffContext is how many unchanged lines surround a change.
const diffContext = 3

// printDiff indents a diff; for a changed resource it shows only the
// changed lines and their context, as `diff -u` would.
func printDiff(w io.Writer, diff string, trim bool) {
	lines := strings.Split(strings.TrimRight(diff, "\n"), "\n")
	keep := make([]bool, len(lines))
	for i, l := range lines {
		if !trim || !strings.HasPrefix(l, "  ") {
			for j := max(0, i-diffContext); j <= min(len(lines)-1, i+diffContext); j++ {
				keep[j] = true
			}
		}
	}
	gap := false
	for i, l := range lines {
		if !keep[i] {
			gap = true
			continue
		}
		if gap {
			fmt.Fprintln(w, "    ...")
			gap = false
		}
		fmt.Fprintln(w, "    "+l)
	}
}

// notFound says so when the API answered 404, in the words kubectl uses.
func notFound(err error, kind, ns, name string) error {
	var ae *apiclient.Error
	if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
		return fmt.Errorf("%s %s/%s not found", kind, ns, name)
	}
	return err
}

// kindName checks the KIND NAME arguments of describe and delete and
// returns the resource kind.
func kindName(pos []string, stderr io.Writer, usage string) (string, error) {
	if len(pos) != 2 {
		fmt.Fprintln(stderr, usage)
		return "", errUsage
	}
	kind, ok := api.Kind(pos[0])
	if !ok {
		return "", fmt.Errorf("unknown kind %q: want service, route or policy", pos[0])
	}
	return kind, nil
}
