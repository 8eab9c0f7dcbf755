package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the demo unattended as a newcomer's script would, as a
// real process with its real children (weft run, python3, node), and
// reads its summary table: every page answered, both catalog versions
// served, and the canary step's share of v2 near the 10 % asked for.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin.weft, "demo", "--auto", "--duration", "20s")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	s := string(out)
	if err != nil {
		t.Fatalf("weft demo after %v: %v\n%s", time.Since(start), err, s)
	}
	t.Logf("weft demo --auto --duration 20s took %v", time.Since(start).Round(time.Millisecond))
	defer func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", s)
		}
	}()
	rows := summaryTable(t, s)
	total, canary := rows["total"], rows["canary"]
	if total == nil || canary == nil {
		t.Fatalf("summary lacks the total or canary row: %v", rows)
	}
	if got := percent(t, total["success"]); got < 99 {
		t.Errorf("success %.2f%%, want >= 99%%", got)
	}
	if n, _ := strconv.Atoi(total["requests"]); n < 200 {
		t.Errorf("only %d requests in 20s", n)
	}
	// Ordinary users' share on v2 while the route asked for 10 %: about
	// 16 of some 160 pages at the least, so 4..18 % is over 2.5 sigma.
	if got := percent(t, canary["v2"]); got < 4 || got > 18 {
		t.Errorf("canary step: v2 got %.1f%% of ordinary users' pages, want about 10%%", got)
	}
	if got := percent(t, rows["beta"]["beta:v2"]); got < 99 {
		t.Errorf("beta step: beta testers on v2 %.1f%%, want all", got)
	}
	if got := percent(t, rows["baseline"]["v1"]); got != 100 {
		t.Errorf("baseline: v1 %.1f%%, want 100%%", got)
	}
	if !strings.Contains(s, "catalog versions seen: v1, v2\n") {
		t.Errorf("both versions must be seen")
	}
	for _, want := range []string{"frontend-1    frontend", "catalog-v2-b", "ratings-1", "fails half its requests",
		"dashboard       http://127.0.0.1:", "#token=weftop_", "weft stat:"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The closing step prints weft stat's table: the control plane's own
	// scrapes saw both catalog versions serve.
	if !regexp.MustCompile(`(?m)^ +catalog +v1 `).MatchString(s) || !regexp.MustCompile(`(?m)^ +catalog +v2 `).MatchString(s) {
		t.Errorf("the observe step's weft stat lacks a catalog v1 or v2 row")
	}
	// The mesh stops when the demo returns: no command may be offered
	// against it, only the way to keep it running.
	if strings.Contains(s, "--server") || !strings.Contains(s, "weft demo --serve") {
		t.Errorf("closing lines point at a mesh that has stopped")
	}
}

// summaryTable reads the demo's summary table: each row by its step, each
// cell by its column's heading.
func summaryTable(t *testing.T, out string) map[string]map[string]string {
	t.Helper()
	rows := map[string]map[string]string{}
	var head []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "step" && len(f) > 3 && f[1] == "requests" {
			head = f
			continue
		}
		if head == nil || len(f) != len(head) {
			continue
		}
		row := map[string]string{}
		for i, h := range head {
			row[h] = f[i]
		}
		rows[f[0]] = row
		if f[0] == "total" {
			break
		}
	}
	if head == nil {
		t.Fatalf("no summary table in the output")
	}
	return rows
}

func percent(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		t.Errorf("not a percentage: %q", s)
		return -1
	}
	return f
}

// TestVersion: the binary says which commit it was built from, as the Go
// toolchain stamped it, rather than "dev".
func TestVersion(t *testing.T) {
	out, err := exec.Command(bin.weft, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("weft version: %v\n%s", err, out)
	}
	s := strings.TrimSpace(string(out))
	if s == "weft dev" || !strings.HasPrefix(s, "weft ") {
		t.Fatalf("version %q", s)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout to compare with: %v", err)
	}
	// The go command stamps no VCS info in a linked worktree (its .git is
	// a file), so only a plain checkout can be held to the commit.
	if st, err := os.Stat("../../.git"); err != nil || !st.IsDir() {
		t.Skip("not a plain git checkout: the go command stamps no commit")
	}
	if want := "commit " + strings.TrimSpace(string(head))[:12]; !strings.Contains(s, want) {
		t.Errorf("version %q lacks %q", s, want)
	}
}
