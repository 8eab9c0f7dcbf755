//go:build !proxyonly

package cli

import "os/exec"

// ownProcessGroup keeps a terminal's Ctrl-C from reaching the demo's
// children directly: the demo stops them itself, loadgen first.
// dieWithParent has set SysProcAttr.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr.Setpgid = true
}
