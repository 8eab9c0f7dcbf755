//go:build !proxyonly && !linux

package cli

import "os/exec"

// ownProcessGroup: the children share the demo's process group here.
func ownProcessGroup(*exec.Cmd) {}
