package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Access classes of the API's routes.
type access int

const (
	// open: anyone (the trust bundle; the CSR endpoint, whose body carries
	// its own credential).
	open access = iota
	// read: from loopback, anyone; from elsewhere, the operator.
	read
	// workload: a sidecar's verified client certificate or the operator;
	// the backend checks that the identity may act on the instance.
	workload
	// operator: the operator credential only (every write).
	operator
)

// Authenticator recognises credentials. Implementations compare in
// constant time and never log the token.
type Authenticator interface {
	// Operator reports whether token is the operator credential.
	Operator(ctx context.Context, token string) bool
	// Workload returns the SPIFFE ID of a verified client certificate
	// chain (DER, leaf first), or an error if it is not one of the mesh's.
	Workload(chain [][]byte) (string, error)
}

// Caller is who sent a request, as the handler established it.
type Caller struct {
	// Operator: the request carried the operator credential.
	Operator bool
	// Workload is the SPIFFE ID of the verified client certificate; "" if
	// none was presented.
	Workload string
	// Loopback: the peer's address is a loopback address.
	Loopback bool
}

type callerKey struct{}

// CallerFrom returns the caller of the request ctx belongs to; the zero
// Caller (nobody) outside the handler.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// WithCaller attaches c to ctx (tests of backends, and the handler).
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// maxAuthHeader caps the Authorization header read: a token is ~50 bytes.
const maxAuthHeader = 512

func (h *handler) guard(level access, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := Caller{Loopback: isLoopback(r.RemoteAddr)}
		if tok, ok := bearer(r); ok && h.auth != nil {
			if !h.auth.Operator(r.Context(), tok) {
				h.fail(w, fmt.Errorf("%w: the bearer token is not the operator token (it is rotated by weft control --reset-operator-token)", ErrUnauthenticated))
				return
			}
			c.Operator = true
		}
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && h.auth != nil {
			var chain [][]byte
			for _, cert := range r.TLS.PeerCertificates {
				chain = append(chain, cert.Raw)
			}
			id, err := h.auth.Workload(chain)
			if err != nil {
				h.fail(w, fmt.Errorf("%w: client certificate: %w", ErrUnauthenticated, err))
				return
			}
			c.Workload = id
		}
		if h.auth != nil {
			switch {
			case level == read && !c.Loopback && !c.Operator:
				h.fail(w, fmt.Errorf("%w: reads from outside loopback need the operator token (Authorization: Bearer)", ErrUnauthenticated))
				return
			case level == workload && !c.Operator && c.Workload == "":
				h.fail(w, fmt.Errorf("%w: needs the workload's certificate (an SVID of the service, as TLS client certificate) or the operator token", ErrUnauthenticated))
				return
			case level == operator && !c.Operator:
				h.fail(w, fmt.Errorf("%w: needs the operator token (Authorization: Bearer; weft finds it with --token-file, WEFT_TOKEN, WEFT_TOKEN_FILE or DATA_DIR/operator.token)", ErrUnauthenticated))
				return
			}
		}
		next(w, r.WithContext(WithCaller(r.Context(), c)))
	}
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	if v == "" || len(v) > maxAuthHeader {
		return "", false
	}
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
