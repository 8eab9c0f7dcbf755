package proxy

import (
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// meshAnswered writes a response the mesh makes itself, logs it (rate
// limited) and counts it with its flag.
func (hc *h1conn) meshAnswered(f telemetry.Flag, code int, why string, subject []byte, clusterName, routeName string, d time.Duration, closeConn bool) {
	hc.writeMesh(f, code, why, subject, closeConn)
	logMeshResponse(hc.h.log, f, code, why, subject, clusterName, routeName)
	hc.observe(code, f, d)
	hc.finishTrace(code, f, clusterName, "", time.Now().Add(-d))
}

// badRequestWords says in words why a request head was refused.
func badRequestWords(code int) string {
	switch code {
	case 413:
		return "request body too large"
	case 414:
		return "request line too long"
	case 431:
		return "request header too large"
	case 505:
		return "HTTP version not supported"
	}
	return "malformed request"
}

// upstreamWords says in words why an exchange with the upstream failed.
func upstreamWords(f telemetry.Flag) string {
	switch f {
	case telemetry.FlagUpstreamTimeout:
		return "upstream request timeout"
	case telemetry.FlagDownstreamProtocolError:
		return "malformed request body"
	case telemetry.FlagUpstreamProtocolError:
		return "upstream sent an invalid response"
	case telemetry.FlagUpstreamOverflow:
		return "upstream connection limit reached"
	case telemetry.FlagUpstreamConnectFailure:
		return "upstream connection failed"
	case telemetry.FlagUpstreamReset:
		return "upstream reset the stream"
	case telemetry.FlagRetryLimitExceeded:
		return "upstream failed on every try"
	}
	return "upstream closed the connection before a full response"
}

// trustPeerFlags reports whether an upstream's response-flags header is
// the mesh's own: on outbound, from a peer sidecar authenticated by mTLS.
// An app (inbound) or an unauthenticated upstream cannot set it.
func trustPeerFlags(direction string, cl *cluster.Cluster) bool {
	return direction == "outbound" && cl.Config.TLS != nil
}
