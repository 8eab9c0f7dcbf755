//go:build !proxyonly

package cli

// controlPlaneCommands are the commands that link the control plane (etcd,
// go-control-plane). A sidecar image built with -tags proxyonly leaves them
// out, because every linked package's initialisation costs the sidecar
// resident memory even when the command never runs.
func controlPlaneCommands() map[string]command {
	return map[string]command{
		"control": {"run the control plane (registry, config store, xDS, admin API)", runControl},
		"demo":    {"run a demo shop in three languages on a mesh on this machine, with a narrated scenario", runDemo},
		// Hidden (hiddenCommands): the demo's Go apps, run by weft demo.
		"demo-app": {"run one of the demo's Go apps", runDemoApp},
	}
}
