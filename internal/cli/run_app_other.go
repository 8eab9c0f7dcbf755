//go:build !linux

package cli

import "os/exec"

// dieWithParent: only Linux can tie the app's life to weft run's.
func dieWithParent(*exec.Cmd) {}
