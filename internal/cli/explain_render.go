package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	"github.com/weft-mesh/weft/internal/sidecar"
)

// renderExplain prints an explanation the way `kubectl describe` prints an
// object: the request as routing sees it, every rule with its outcome,
// then what the matched rule does.
func renderExplain(w io.Writer, e sidecar.Explanation) error {
	r := e.Request
	fmt.Fprintf(w, "Sidecar:  %s (tables %s)\n", dash(e.Node), dash(e.Version))
	// The app speaks plain HTTP to its sidecar's outbound side.
	fmt.Fprintf(w, "Request:  %s http://%s%s\n", r.Method, r.Authority, r.Target)
	fmt.Fprintf(w, "  Host:     %s\n", r.Host)
	fmt.Fprintf(w, "  Path:     %s\n", r.Path)
	if r.Query != "" {
		fmt.Fprintf(w, "  Query:    %s\n", r.Query)
	}
	for i, h := range r.Headers {
		label := ""
		if i == 0 {
			label = "Headers:"
		}
		fmt.Fprintf(w, "  %-9s %s\n", label, h)
	}
	fmt.Fprintln(w)
	if a := e.Authz; a != nil {
		fmt.Fprintf(w, "Inbound from: %s (port %s)\n", dashIf(a.Peer, "plaintext, no identity"), dashIf(portText(a.Port), "any"))
		if a.MTLS != "" {
			fmt.Fprintf(w, "Inbound mTLS: %s (set by %s)\n", a.MTLS, a.MTLSSource)
		}
		fmt.Fprintf(w, "Authorization: %s\n", strings.ToUpper(a.Decision))
		if a.Policy != "" {
			fmt.Fprintf(w, "  Rule:     %s (%s)\n", a.Policy, a.Action)
		}
		fmt.Fprintf(w, "  Why:      %s\n", a.Reason)
		if len(e.Notes) > 0 {
			fmt.Fprintln(w, "\nNotes:")
			for _, n := range e.Notes {
				fmt.Fprintln(w, "  "+n)
			}
		}
		return nil
	}
	if e.VirtualHost == "" && e.Version != "" {
		fmt.Fprintf(w, "Virtual host: none serves %s\n", r.Host)
	} else if e.VirtualHost != "" {
		fmt.Fprintf(w, "Virtual host: %s (domain %s)\n", e.VirtualHost, e.Domain)
	}
	if len(e.Rules) > 0 {
		fmt.Fprintln(w, "\nRules, in order (the first match wins):")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for i, rt := range e.Rules {
			result := "MATCH"
			if rt.Outcome != "match" {
				result = rt.Outcome + ": " + rt.Reason
			}
			when := "any request"
			if len(rt.Conditions) > 0 {
				when = strings.Join(rt.Conditions, " and ")
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\n", i, dash(rt.Name), result)
			fmt.Fprintf(tw, "   \t\twhen %s\n", when)
		}
		tw.Flush()
	}
	if rt := e.Route; rt != nil {
		fmt.Fprintf(w, "\nMatched rule %d (%s):\n", e.Matched, dash(rt.Name))
		fmt.Fprintf(w, "  Timeout:  %s (from %s)\n", rt.Timeout, rt.TimeoutFrom)
		if err := renderPolicy(w, rt.Policy); err != nil {
			return err
		}
		fmt.Fprintln(w, "  Backends:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    CLUSTER\tWEIGHT\tSHARE\tLB\tPROTOCOL\tENDPOINTS")
		for _, b := range rt.Backends {
			lb, proto, n := b.LB, b.Protocol, fmt.Sprint(len(b.Endpoints))
			if b.Missing {
				lb, proto, n = "-", "-", "cluster missing"
			}
			fmt.Fprintf(tw, "    %s\t%d\t%s\t%s\t%s\t%s\n", b.Cluster, b.Weight, percent(b.Percent), lb, proto, n)
		}
		tw.Flush()
		for _, b := range rt.Backends {
			if b.Missing {
				continue
			}
			ct := ""
			if b.ConnectTimeout != "" {
				ct = " (connect timeout " + b.ConnectTimeout + ")"
			}
			fmt.Fprintf(w, "\nEndpoints of %s%s:\n", b.Cluster, ct)
			if len(b.Endpoints) == 0 {
				fmt.Fprintln(w, "  none in rotation")
				continue
			}
			renderLocality(w, b.Locality)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			tier := ""
			if b.Locality != nil {
				tier = "\tTIER"
			}
			fmt.Fprintln(tw, "  ADDRESS\tWEIGHT\tZONE"+tier+"\tLABELS\tIN-FLIGHT\tLATENCY\tCONNS (OPEN/IDLE)")
			for _, ep := range b.Endpoints {
				where := dash(ep.Zone)
				if ep.Region != "" {
					where = ep.Region + "/" + dash(ep.Zone)
				}
				if b.Locality != nil {
					where += "\t" + ep.Tier
				}
				fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%d\t%s\t%d/%d\n", ep.Address, ep.Weight, where, labels(ep.Labels),
					ep.InFlight, dash(ep.Latency), ep.OpenConns, ep.IdleConns)
			}
			tw.Flush()
		}
	}
	if len(e.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range e.Notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
	return nil
}

// renderPolicy shows the route's other settings as YAML, so settings the
// route table gains are shown without a change here.
func renderPolicy(w io.Writer, p map[string]json.RawMessage) error {
	if len(p) == 0 {
		return nil
	}
	v := map[string]any{}
	for k, raw := range p {
		var x any
		if err := json.Unmarshal(raw, &x); err != nil {
			return fmt.Errorf("explain: route setting %s: %w", k, err)
		}
		v[k] = x
	}
	fmt.Fprintln(w, "  Policy:")
	enc := yaml.NewEncoder(indent(indent(w)))
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

func percent(p float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", p), "0"), ".") + "%"
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	ks := make([]string, 0, len(m))
	for k, v := range m {
		ks = append(ks, k+"="+v)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// renderLocality says how a locality-aware cluster spreads traffic over
// its tiers now (nothing when it is not locality-aware).
func renderLocality(w io.Writer, tiers []sidecar.TierShare) {
	if tiers == nil {
		return
	}
	parts := make([]string, len(tiers))
	for i, t := range tiers {
		parts[i] = fmt.Sprintf("%s %s (%d endpoints)", t.Tier, percent(t.Percent), t.Endpoints)
	}
	fmt.Fprintln(w, "  locality-aware: "+strings.Join(parts, ", "))
}

func dashIf(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func portText(p int) string {
	if p == 0 {
		return ""
	}
	return fmt.Sprint(p)
}
