//go:build !proxyonly

package cli

// demoCaptureAvailable reports whether the demo can mesh one instance
// (ratings, a Node server) with `weft run --capture`, and if not, why,
// for the narration: it needs Linux, root, and the ip and iptables
// commands (scripts/install-deps.sh installs them as root).
func demoCaptureAvailable() (bool, string) {
	if err := capturePrereqs(); err != nil {
		return false, "ratings is meshed through its port, not by transparent capture: " + err.Error()
	}
	return true, ""
}
