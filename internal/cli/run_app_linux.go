package cli

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel send the app SIGTERM if weft run itself
// dies (SIGKILL, a crash): it must not run on unmeshed, unregistered and
// unsupervised. The signal follows the thread that started the app, and
// the Go runtime does not end threads that no goroutine locked.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
