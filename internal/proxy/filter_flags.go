package proxy

import "github.com/weft-mesh/weft/internal/telemetry"

// flagHeader carries the response flags of mesh-made responses; a request
// that a fault filter delayed and then aborted carries "DI,FI".
const flagHeader = telemetry.ResponseFlagsHeader

// flagsValue is the header value for f, after an injected delay or not.
func flagsValue(f telemetry.Flag, delayed bool) string {
	if delayed && f != telemetry.FlagDelayInjected {
		return telemetry.FlagDelayInjected.String() + "," + f.String()
	}
	return f.String()
}
