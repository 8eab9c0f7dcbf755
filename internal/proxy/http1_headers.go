package proxy

import "github.com/weft-mesh/weft/internal/proxy/h1"

// forwardingHeader reports the headers in which earlier hops describe the
// client: X-Forwarded-* (For, Proto, Host, Port, Client-Cert...),
// Forwarded (RFC 7239) and X-Real-IP. Apps take them as facts about the
// caller, so only a trusted downstream may set them (HTTP1Config.TrustForwarded).
func forwardingHeader(name []byte) bool {
	switch {
	case len(name) == 9:
		return h1.EqualFold(name, "forwarded") || h1.EqualFold(name, "x-real-ip")
	case len(name) > 12:
		return h1.EqualFold(name[:12], "x-forwarded-")
	}
	return false
}

// identityHeader is the caller identity the mesh asserts to an app. Only
// the receiving sidecar may set it, from what it verified itself, so every
// downstream's copy is dropped, trusted or not.
// X-Forwarded-Client-Cert is one of them: it names the mTLS peer.
func identityHeader(name []byte) bool {
	return h1.EqualFold(name, "x-mesh-identity") || h1.EqualFold(name, "x-forwarded-client-cert")
}

// dropTrailer names the trailer fields the proxy never relays, on top of
// h1.ForbiddenTrailer: a header that policy controls must not reappear at
// the end of the body, where an app merging trailers would find it.
func dropTrailer(name []byte) bool {
	return internalHeader(name) || forwardingHeader(name)
}

// validTrailer reports whether an HTTP/2 trailer field may be written as
// HTTP/1.1: a token name, no control bytes in the value, not dropped.
func validTrailer(name, value string) bool {
	if name == "" || h1.ForbiddenTrailer([]byte(name)) || dropTrailer([]byte(name)) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == ':' || c == '"' || c == '(' || c == ')' ||
			c == ',' || c == '/' || c == ';' || c == '<' || c == '=' || c == '>' || c == '?' ||
			c == '@' || c == '[' || c == '\\' || c == ']' || c == '{' || c == '}' {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
