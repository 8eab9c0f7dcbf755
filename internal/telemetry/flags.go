package telemetry

// Flag says why the mesh, not the app, made or ended a response. The
// vocabulary is Envoy's short response flags (its access log's
// %RESPONSE_FLAGS%, Istio's response_flags metric label), so dashboards
// and habits built for Envoy read Weft's the same way. It is closed: the
// metrics label that carries it has a fixed set of values.
type Flag uint8

// The flags Weft sets. FlagNone marks a response the upstream made.
const (
	FlagNone                    Flag = iota
	FlagNoRoute                      // NR: no route matched the request
	FlagNoCluster                    // NC: the route names a cluster that does not exist (an invalid backendRef)
	FlagNoHealthyUpstream            // UH: the cluster has no endpoint to send to
	FlagUpstreamConnectFailure       // UF: connecting to the endpoint failed
	FlagUpstreamOverflow             // UO: the endpoint's connection cap is reached
	FlagUpstreamTimeout              // UT: the request's timeout passed before the response began
	FlagUpstreamConnTermination      // UC: the upstream closed its connection before a full response
	FlagUpstreamReset                // UR: the upstream reset the stream
	FlagUpstreamProtocolError        // UPE: the upstream's response broke the protocol
	FlagDownstreamProtocolError      // DPE: the request broke the protocol, or exceeded a limit
	FlagStreamIdleTimeout            // SI: the request head did not arrive in time
	FlagRetryLimitExceeded           // URX: retries ran out (traffic-management issue)
	FlagRateLimited                  // RL: a local rate limit refused the request
	// FlagUnauthorized (RBAC): an authorization policy denied the request.
	// Envoy itself sets no response flag for its RBAC filter's denials
	// (only the response code details rbac_access_denied_matched_policy[NAME]);
	// UAEX is its ext_authz flag and would misname a local decision, so
	// Weft's vocabulary adds RBAC, the name Envoy's filter goes by.
	FlagUnauthorized
	FlagFaultInjected         // FI: a fault filter aborted the request
	FlagDelayInjected         // DI: a fault filter delayed the request
	FlagDownstreamTermination // DC: the client went away before the response ended
	NumFlags                  // the size of the vocabulary, FlagNone included
)

type flagInfo struct {
	code   string
	words  string
	status int // the status the mesh answers with; 0 when it sends none
}

var flagTable = [NumFlags]flagInfo{
	FlagNone:                    {"-", "", 0},
	FlagNoRoute:                 {"NR", "no route", 404},
	FlagNoCluster:               {"NC", "no cluster for the route's backend", 503},
	FlagNoHealthyUpstream:       {"UH", "no healthy upstream", 503},
	FlagUpstreamConnectFailure:  {"UF", "upstream connection failure", 502},
	FlagUpstreamOverflow:        {"UO", "upstream overflow", 503},
	FlagUpstreamTimeout:         {"UT", "upstream request timeout", 504},
	FlagUpstreamConnTermination: {"UC", "upstream connection termination", 502},
	FlagUpstreamReset:           {"UR", "upstream reset", 502},
	FlagUpstreamProtocolError:   {"UPE", "upstream protocol error", 502},
	FlagDownstreamProtocolError: {"DPE", "bad request", 400},
	FlagStreamIdleTimeout:       {"SI", "request head timeout", 408},
	FlagRetryLimitExceeded:      {"URX", "retry limit exceeded", 503},
	FlagRateLimited:             {"RL", "rate limited", 429},
	FlagUnauthorized:            {"RBAC", "denied by authorization policy", 403},
	FlagFaultInjected:           {"FI", "fault injected", 503},
	FlagDelayInjected:           {"DI", "delay injected", 0},
	FlagDownstreamTermination:   {"DC", "downstream connection termination", 0},
}

// String is the flag's short code ("NR"), or "-" for FlagNone, as Envoy
// prints an empty %RESPONSE_FLAGS%.
func (f Flag) String() string {
	if f >= NumFlags {
		return "-"
	}
	return flagTable[f].code
}

// Words is the flag's meaning in a few words, for bodies and logs.
func (f Flag) Words() string {
	if f >= NumFlags {
		return ""
	}
	return flagTable[f].words
}

// Status is the HTTP status the mesh answers with for the flag by
// default; a cause may refine it (DPE is 431 for a head too large). Zero
// for flags that come with no response of the mesh's own.
func (f Flag) Status() int {
	if f >= NumFlags {
		return 0
	}
	return flagTable[f].status
}

// Flags lists the vocabulary, FlagNone excluded, in declaration order.
func Flags() []Flag {
	out := make([]Flag, 0, NumFlags-1)
	for f := FlagNone + 1; f < NumFlags; f++ {
		out = append(out, f)
	}
	return out
}

// ResponseFlagsHeader is the response header carrying the flag of a
// response the mesh made. Only the mesh sets it: sidecars drop copies an
// app, a client or a peer they cannot authenticate sends.
const ResponseFlagsHeader = "X-Weft-Response-Flags"
