// Package cli turns command lines into Config structs and calls the
// composition roots. It holds no logic of its own.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	cmds := map[string]command{
		"proxy":    {"run a sidecar next to one service instance", runProxy},
		"run":      {"mesh a local process: its sidecar in this process, then the app (-- CMD ARGS)", runRun},
		"apply":    {"create or update resources from YAML (-f FILE|DIR|-, --dry-run shows the diff)", runApply},
		"get":      {"list resources, proxies (sync status) or instances", runGet},
		"describe": {"show one resource with its status, instances and routes", runDescribe},
		"delete":   {"delete one resource", runDelete},
		"explain":  {"explain how a sidecar routes one request, from its running tables", runExplain},
		"history":  {"list config revisions", runHistory},
		"stat":     {"golden signals per service and version: success rate, requests/s, latency (from the sidecars)", runStat},
		"edges":    {"the call graph: caller -> callee with success rate, requests/s and latency", runEdges},
		"top":      {"weft stat and weft edges, refreshed live", runTop},
		"tap":      {"stream live request metadata from a service's sidecars (no bodies; filtered, rate-capped)", runTap},
		"rollback": {"restore the config of a past revision, as a new revision", runRollback},
		"token":    {"create a join token that admits a sidecar to a service's identity once", runToken},
		"ca":       {"show the CA's roots, or rotate the root (rotate, then rotate --finish or wait for --root-overlap)", runCA},
		"version":  {"print the version", runVersion},
	}
	for name, c := range controlPlaneCommands() {
		cmds[name] = c
	}
	return cmds
}

// hiddenCommands are left out of the usage: they are parts of another
// command (weft demo runs its Go apps as `weft demo-app`), not for users.
var hiddenCommands = map[string]bool{"demo-app": true}

// errUsage marks a usage error already printed to stderr.
var errUsage = errors.New("usage")

// exitCode is a command's chosen exit status, returned as an error so
// that only main exits: `weft run` exits with its app's status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Run executes one command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "weft: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(stderr, "weft %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Weft: a fast, understandable service mesh.\n\nUsage: weft COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		if hiddenCommands[n] {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'weft COMMAND -h' for a command's flags.")
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("weft "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
