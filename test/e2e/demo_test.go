package e2e

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDemo runs the README's first command as a newcomer would and checks
// the tour shows a mesh: registration, the applied split, the live change,
// the refused resource and three synced sidecars.
func TestDemo(t *testing.T) {
	out, err := exec.Command(bin.weft, "demo", "-requests", "200").CombinedOutput()
	if err != nil {
		t.Fatalf("weft demo: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{
		"registers itself with version=v2",
		"config revision 2",
		"spec.rules[1].backendRefs[1].weight: must be >= 0",
		"GET http://catalog/still-ok -> 200",
		"revision 2  apply",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The mesh stops when the demo returns: no command may be offered
	// against it, only the way to keep it running.
	if strings.Contains(s, "WEFT_SERVER=") || !strings.Contains(s, "weft demo -serve") {
		t.Errorf("closing lines point at a mesh that has stopped")
	}
	if n := strings.Count(s, " SYNCED "); n != 3 {
		t.Errorf("want 3 SYNCED sidecars, got %d", n)
	}
	// The 90:10 phase, then the 50:50 phase, each of 200 requests.
	re := regexp.MustCompile(`(?m)^   v2 +(\d+) `)
	m := re.FindAllStringSubmatch(s, -1)
	if len(m) != 3 { // 90:10, canary (20 of 20), 50:50
		t.Fatalf("want three v2 counts, got %v\n%s", m, s)
	}
	first, _ := strconv.Atoi(m[0][1])
	last, _ := strconv.Atoi(m[2][1])
	if first < 5 || first > 50 || last < 60 || last > 140 {
		t.Errorf("v2 share: 90:10 phase %d/200, 50:50 phase %d/200", first, last)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", s)
	}
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
