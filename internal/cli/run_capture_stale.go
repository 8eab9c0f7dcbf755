package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ownerFile, in a capture namespace's /etc/netns directory, holds the pid
// of the weft run that made it: a later run removes what a run killed
// with SIGKILL (which no cleanup survives) left behind.
const ownerFile = "weft-owner"

// writeOwner records this process as the owner of ns.
func writeOwner(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// sweepStale removes the namespaces, veths and iptables rules of capture
// runs whose process is gone, and says so on w.
func sweepStale(w io.Writer) {
	dirs, _ := filepath.Glob("/etc/netns/weft-*")
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being set up, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		ns := filepath.Base(dir)
		fmt.Fprintf(w, "weft run: removing capture namespace %s left by weft run pid %d, which is gone\n", ns, pid)
		removeCapture(ns)
	}
}

// removeCapture removes everything of namespace ns, whatever state it is
// in; the errors of parts already gone are expected and dropped.
func removeCapture(ns string) {
	deleteRules(ns)
	runTool("ip", "link", "del", "wefth"+strings.TrimPrefix(ns, "weft-"))
	runTool("ip", "netns", "del", ns)
	os.RemoveAll(filepath.Join("/etc/netns", ns))
}

// deleteRules deletes the nat PREROUTING rules whose comment names ns,
// by number, highest first so the numbers stay valid.
func deleteRules(ns string) error {
	out, err := exec.Command("iptables", "-w", "5", "-t", "nat", "-L", "PREROUTING", "-n", "--line-numbers").Output()
	if err != nil {
		return fmt.Errorf("iptables -t nat -L PREROUTING: %w", err)
	}
	var nums []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "/* weft capture "+ns+" */") {
			nums = append(nums, strings.Fields(line)[0])
		}
	}
	var errs []error
	for i := len(nums) - 1; i >= 0; i-- {
		errs = append(errs, runTool("iptables", "-w", "5", "-t", "nat", "-D", "PREROUTING", nums[i]))
	}
	return errors.Join(errs...)
}
