package cli

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Version overrides the version the build info gives, for release builds:
// -ldflags "-X github.com/weft-mesh/weft/internal/cli.Version=v1.2.3".
var Version = ""

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if err := newFlags("version", stderr).Parse(args); err != nil {
		return err
	}
	info, _ := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(Version, info))
	return nil
}

// versionLine renders what the Go toolchain stamped into the binary: the
// module version (a tag, or a pseudo-version from the commit) and the VCS
// commit, its time and whether the tree had uncommitted changes, so a
// binary built from a checkout says exactly what it is.
func versionLine(override string, info *debug.BuildInfo) string {
	v := override
	if v == "" && info != nil {
		v = info.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, at string
	modified := false
	if info != nil {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var extra []string
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified {
			rev += " (modified)"
		}
		extra = append(extra, "commit "+rev)
	}
	if at != "" {
		extra = append(extra, "committed "+at)
	}
	if info != nil && info.GoVersion != "" {
		extra = append(extra, info.GoVersion)
	}
	line := "weft " + v
	if len(extra) > 0 {
		line += " (" + strings.Join(extra, ", ") + ")"
	}
	return line
}
