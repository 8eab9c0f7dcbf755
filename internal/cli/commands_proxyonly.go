//go:build proxyonly

package cli

// controlPlaneCommands: none in the sidecar-only build.
func controlPlaneCommands() map[string]command { return nil }
