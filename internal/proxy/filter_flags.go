package proxy

// The response-flag codes of mesh-made responses from the route filters,
// Envoy's spelling. The header they travel in is flagHeader.
// TODO(flags): fold into the shared response-flag vocabulary once it lands.
const (
	flagHeader      = "x-weft-response-flags"
	flagRateLimited = "RL" // refused by a local rate limit
	flagFaultAbort  = "FI" // aborted by fault injection
	flagDelayed     = "DI" // delayed by fault injection
)
