package ca

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/store"
)

// Join-token limits.
const (
	// DefaultTokenTTL is how long a join token stays usable.
	DefaultTokenTTL = time.Hour
	// MaxTokenTTL caps it: a join token is a bearer secret.
	MaxTokenTTL = 7 * 24 * time.Hour
	// MaxTokenUses caps how many sidecars one token may admit.
	MaxTokenUses = 1000
	// MaxTokens caps the live tokens, so token creation cannot fill the store.
	MaxTokens = 10000
)

const (
	tokenPrefix = "ca/tokens/"
	// tokenScheme marks a Weft join token, so a leaked one is recognisable
	// to secret scanners.
	tokenScheme = "weftjt_"
)

// tokenRecord is a stored token: its SHA-256 is the key, and the secret
// itself is never stored.
type tokenRecord struct {
	ID        string    `json:"spiffeId"`
	ExpiresAt time.Time `json:"expiresAt"`
	Uses      int       `json:"uses"` // remaining
}

// Tokens are join tokens: single-use (or bounded) bearer secrets that admit
// a sidecar to one identity the first time, before it has an SVID. Each
// lives in the store under its hash, on an etcd lease that ends with it.
type Tokens struct {
	st  store.Store
	now func() time.Time
}

// NewTokens keeps tokens in st; now is the clock (nil: time.Now).
func NewTokens(st store.Store, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{st: st, now: now}
}

// Create makes a token for w, usable uses times until ttl passes. The
// returned secret exists nowhere else: show it once.
func (t *Tokens) Create(ctx context.Context, w identity.Workload, ttl time.Duration, uses int) (string, time.Time, error) {
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if uses == 0 {
		uses = 1
	}
	if ttl < time.Second || ttl > MaxTokenTTL {
		return "", time.Time{}, fmt.Errorf("%w: ttl: must be between 1s and %s; got %s", ErrInvalid, MaxTokenTTL, ttl)
	}
	if uses < 1 || uses > MaxTokenUses {
		return "", time.Time{}, fmt.Errorf("%w: uses: must be between 1 and %d; got %d", ErrInvalid, MaxTokenUses, uses)
	}
	live, _, err := t.st.List(ctx, tokenPrefix)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("create token: %w", err)
	}
	if len(live) >= MaxTokens {
		return "", time.Time{}, fmt.Errorf("%w: create token: %d unexpired tokens exist already", ErrInvalid, len(live))
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("create token: %w", err)
	}
	token := tokenScheme + base64.RawURLEncoding.EncodeToString(secret[:])
	exp := t.now().Add(ttl)
	data, err := json.Marshal(tokenRecord{ID: w.ID.String(), ExpiresAt: exp, Uses: uses})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("create token: %w", err)
	}
	// The lease removes the key once the token expired; Redeem checks
	// ExpiresAt too, since a lease ends only at etcd's next check.
	lease, err := t.st.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("create token: %w", err)
	}
	if _, err := t.st.Put(ctx, tokenKey(token), data, store.WithLease(lease), store.IfModRevision(0)); err != nil {
		return "", time.Time{}, fmt.Errorf("create token: %w", err)
	}
	return token, exp, nil
}

// Redeem spends one use of token and returns the identity it admits. Each
// use is spent exactly once even with several replicas racing: the last
// use deletes the key, and the others rewrite it only at the revision read.
func (t *Tokens) Redeem(ctx context.Context, token string) (identity.Workload, error) {
	// The CA pin a token may carry is for the sidecar; the secret alone
	// is what was stored.
	token, _, err := identity.SplitJoinToken(token)
	if err != nil {
		return identity.Workload{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if !strings.HasPrefix(token, tokenScheme) || len(token) > 128 {
		return identity.Workload{}, fmt.Errorf("%w: join token: not a Weft join token", ErrUnauthenticated)
	}
	key := tokenKey(token)
	for range 10 {
		kv, err := t.st.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return identity.Workload{}, fmt.Errorf("%w: join token: unknown, expired or used up", ErrUnauthenticated)
		}
		if err != nil {
			return identity.Workload{}, fmt.Errorf("redeem token: %w", err)
		}
		var rec tokenRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return identity.Workload{}, fmt.Errorf("redeem token: %w", err)
		}
		if !t.now().Before(rec.ExpiresAt) {
			return identity.Workload{}, fmt.Errorf("%w: join token: expired at %s", ErrUnauthenticated, rec.ExpiresAt.Format(time.RFC3339))
		}
		w, err := identity.Parse(rec.ID)
		if err != nil {
			return identity.Workload{}, fmt.Errorf("redeem token: %w", err)
		}
		if rec.Uses <= 1 {
			_, err = t.st.Delete(ctx, key)
			if errors.Is(err, store.ErrNotFound) {
				continue // another replica spent it first; see what is left
			}
		} else {
			rec.Uses--
			data, _ := json.Marshal(rec)
			_, err = t.st.Put(ctx, key, data, store.WithLease(kv.Lease), store.IfModRevision(kv.ModRevision))
			if errors.Is(err, store.ErrConflict) {
				continue
			}
		}
		if err != nil {
			return identity.Workload{}, fmt.Errorf("redeem token: %w", err)
		}
		return w, nil
	}
	return identity.Workload{}, errors.New("redeem token: too much contention; retry")
}

func tokenKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return tokenPrefix + hex.EncodeToString(h[:])
}
