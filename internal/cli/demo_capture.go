//go:build !proxyonly

package cli

// demoCaptureAvailable reports whether the demo can mesh one instance
// (ratings, whose Node http client would ignore proxy variables) with
// `weft run --capture`, and if not, why, for the narration.
//
// The hook for transparent capture (internal/cli/run_capture.go, being
// built): once weft run accepts --capture, this returns true when it can
// work here (root, nftables or iptables), and shopInstances marks ratings
// to run with it. Until then every instance is meshed explicitly.
func demoCaptureAvailable() (bool, string) {
	return false, "transparent capture (weft run --capture) is not in this build yet: every app is meshed through HTTP_PROXY and $WEFT_UPSTREAM_*"
}
