package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/store"
)

// The operator credential: a bearer token made on first start. The store
// keeps only its SHA-256; the secret is written once, to a 0600 file.
const (
	operatorKey = "auth/operator"
	// operatorScheme marks an operator token, for secret scanners.
	operatorScheme = "weftop_"
	// OperatorTokenFile and CAFile are the names of the files a control
	// plane writes into its credentials directory.
	OperatorTokenFile = "operator.token"
	CAFile            = "ca.pem"
	// operatorCacheTTL bounds how long a rotated token stays accepted by
	// a replica that cached the old hash.
	operatorCacheTTL = 2 * time.Second
)

// operatorAuth checks bearer tokens against the stored hash.
type operatorAuth struct {
	st  store.Store
	mu  sync.Mutex
	sum []byte
	at  time.Time
}

// ensureOperator makes the operator token when the store has none (or
// reset is set), writing the secret to dir/operator.token.
func ensureOperator(ctx context.Context, st store.Store, dir string, reset bool, log *slog.Logger) error {
	path := filepath.Join(dir, OperatorTokenFile)
	if !reset {
		_, err := st.Get(ctx, operatorKey)
		if err == nil {
			if _, ferr := os.Stat(path); ferr != nil {
				log.Warn("the operator token exists in the store but not in this credentials directory; copy it from the replica that made it, or run weft control --reset-operator-token", "file", path)
			}
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("operator token: %w", err)
		}
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	tok := operatorScheme + base64.RawURLEncoding.EncodeToString(secret[:])
	if err := writePrivate(path, []byte(tok+"\n")); err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	sum := sha256.Sum256([]byte(tok))
	opts := []store.PutOption{}
	if !reset {
		// Another replica starting at once makes its own: one wins.
		opts = append(opts, store.IfModRevision(0))
	}
	if _, err := st.Put(ctx, operatorKey, []byte(hex.EncodeToString(sum[:])), opts...); err != nil {
		if errors.Is(err, store.ErrConflict) {
			os.Remove(path)
			return nil
		}
		return fmt.Errorf("operator token: %w", err)
	}
	log.Info("operator token written", "file", path, "reset", reset)
	return nil
}

// writePrivate writes data to path with mode 0600, atomically.
func writePrivate(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Operator reports whether token is the operator token.
func (o *operatorAuth) Operator(ctx context.Context, token string) bool {
	if !strings.HasPrefix(token, operatorScheme) {
		return false
	}
	want := o.current(ctx)
	if want == nil {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

func (o *operatorAuth) current(ctx context.Context) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sum != nil && time.Since(o.at) < operatorCacheTTL {
		return o.sum
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kv, err := o.st.Get(ctx, operatorKey)
	if err != nil {
		return o.sum // keep the last known hash through a store blip
	}
	sum, err := hex.DecodeString(string(kv.Value))
	if err != nil || len(sum) != sha256.Size {
		return nil
	}
	o.sum, o.at = sum, time.Now()
	return sum
}
