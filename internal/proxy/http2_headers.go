package proxy

import (
	"encoding/hex"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/h1"
)

// hopHeaders are meaningful for one connection only (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings",
}

// h2RemoveHop deletes hop-by-hop headers and every header that Connection
// names, so a client cannot make the proxy drop headers it set itself
// (CVE-2021-33197 class): Connection is read before anything is added.
func h2RemoveHop(h http.Header) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				delete(h, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// internalPrefix marks headers only the mesh may set.
const internalPrefix = "X-Weft-"

// h2StripInternal removes what a downstream may not assert: its
// X-Mesh-Identity always (only the receiving sidecar sets it), its
// X-Weft-* headers when internal is set, and its forwarding headers
// (X-Forwarded-*, Forwarded, X-Real-IP) when forwarding is set. Keys are
// canonical, as net/http's server makes them.
func h2StripInternal(h http.Header, internal, forwarding bool) {
	for k := range h {
		if k == "X-Mesh-Identity" || k == xfccHeader || internal && strings.HasPrefix(k, internalPrefix) ||
			forwarding && (strings.HasPrefix(k, "X-Forwarded-") || k == "Forwarded" || k == "X-Real-Ip") {
			delete(h, k)
		}
	}
}

// h2DropTrailers removes trailer fields that must not be relayed: the
// ones RFC 9110 §6.5.1 forbids (framing, routing, authentication...) and
// the headers policy controls (internal, identity, forwarding), which an
// app merging trailers into headers would otherwise take as set by the mesh.
func h2DropTrailers(tr http.Header) {
	for k := range tr {
		if h1.ForbiddenTrailer([]byte(k)) || dropTrailer([]byte(k)) {
			delete(tr, k)
		}
	}
}

// trailerFilter drops a request's forbidden trailers once its body has
// been read to the end, which is when net/http's server fills them in and
// before the transport sends them on.
type trailerFilter struct {
	io.ReadCloser
	tr http.Header
}

func (f *trailerFilter) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if err == io.EOF {
		h2DropTrailers(f.tr)
	}
	return n, err
}

// h2RequestID is a random 128-bit id in hex.
func h2RequestID() string {
	var b [16]byte
	a, c := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i], b[8+i] = byte(a>>(8*i)), byte(c>>(8*i))
	}
	return hex.EncodeToString(b[:])
}

func h2Hash(s string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(s))
	return f.Sum64()
}

func isGRPC(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "application/grpc")
}

// maxGRPCTimeout is where a grpc-timeout saturates. The spec allows up to
// 99999999H (about 11,400 years), past what a time.Duration holds; any
// value this large only means "no tighter than the route's timeout".
const maxGRPCTimeout = time.Duration(math.MaxInt64)

// grpcTimeout parses the grpc-timeout header: at most 8 digits and a unit
// (H, M, S, m, u, n), as the gRPC over HTTP/2 spec defines it. Values past
// maxGRPCTimeout are clamped to it rather than overflowing into a negative
// (already expired) deadline.
func grpcTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseUint(v[:len(v)-1], 10, 64)
	if err != nil {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	if n > uint64(maxGRPCTimeout/unit) {
		return maxGRPCTimeout, true
	}
	return time.Duration(n) * unit, true
}

// grpcStatusFor maps the proxy's own HTTP failures to gRPC codes, as
// Envoy does: 404 -> UNIMPLEMENTED, 504 -> DEADLINE_EXCEEDED, else UNAVAILABLE.
func grpcStatusFor(code int) string {
	switch code {
	case http.StatusNotFound:
		return "12"
	case http.StatusGatewayTimeout:
		return "4"
	case http.StatusBadRequest:
		return "13"
	}
	return "14"
}
