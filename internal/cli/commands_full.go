//go:build !proxyonly

package cli

// controlPlaneCommands are the commands that link the control plane (etcd,
// go-control-plane). A sidecar image built with -tags proxyonly leaves them
// out, because every linked package's initialisation costs the sidecar
// resident memory even when the command never runs.
func controlPlaneCommands() map[string]command {
	return map[string]command{
		"control": {"run the control plane (registry, config store, xDS, admin API)", runControl},
		"demo":    {"run a demo mesh on this machine, all in one process", runDemo},
	}
}
