package ca

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/store"
)

// Rotation phases. A root rotation moves through them in order, each step
// a compare-and-swap on the stored record, so replicas sharing a store
// agree and a restarted control plane resumes where it stopped:
//
//	""            one root signs and is the whole bundle
//	propagating   bundle {old, new}; old still signs, until sidecars hold the bundle
//	overlap       bundle {new, old}; new signs, sidecars renew onto it
//	""            bundle {new} (Finish)
const (
	PhaseNone        = ""
	PhasePropagating = "propagating"
	PhaseOverlap     = "overlap"
)

// ErrRotation: the rotation step does not fit the phase the CA is in, or
// the CA cannot rotate (an operator's files). The API answers 409.
var ErrRotation = errors.New("root rotation")

// Rotation is the CA's rotation state, as the API shows it.
type Rotation struct {
	// Phase is "", "propagating" or "overlap".
	Phase string `json:"phase"`
	// Since is when Phase began.
	Since time.Time `json:"since,omitzero"`
	// FinishAt is when the overlap ends (the old root leaves the bundle).
	FinishAt time.Time `json:"finishAt,omitzero"`
	// Roots are the bundle's roots, the signing one first.
	Roots []RootInfo `json:"roots"`
}

// RootInfo names one root of the bundle.
type RootInfo struct {
	// Pin is the root's pin (identity.CertPin), as join tokens carry it.
	Pin      string    `json:"pin"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"notAfter"`
}

func rootInfos(rs []*x509.Certificate) []RootInfo {
	out := make([]RootInfo, len(rs))
	for i, r := range rs {
		out[i] = RootInfo{Pin: identity.CertPin(r), Subject: r.Subject.String(), NotAfter: r.NotAfter}
	}
	return out
}

// Rotation is the current rotation state.
func (a *Authority) Rotation() Rotation { return a.k.Load().rot }

// Rotate starts a root rotation: a new root joins the bundle (after the
// signing one, which keeps signing) and the phase becomes propagating.
func (a *Authority) Rotate(ctx context.Context) (Rotation, error) {
	return a.RotateTo(ctx, "", "")
}

// RotateTo is Rotate to the operator's root (certPEM: one self-signed CA
// certificate; keyPEM: its key), or to a generated one when both are "".
func (a *Authority) RotateTo(ctx context.Context, certPEM, keyPEM string) (Rotation, error) {
	var given *rootRecord
	if certPEM != "" || keyPEM != "" {
		var err error
		if given, err = a.operatorRoot(certPEM, keyPEM); err != nil {
			return Rotation{}, err
		}
	}
	return a.step(ctx, "rotate", func(rec *rootRecord, now time.Time) error {
		if rec.Phase != PhaseNone {
			return fmt.Errorf("%w: a rotation is already in phase %q (finish it first: weft ca rotate --finish)", ErrRotation, rec.Phase)
		}
		next := given
		if next == nil {
			var err error
			if next, err = a.newRoot(); err != nil {
				return err
			}
		} else if next.Cert == rec.Cert {
			return fmt.Errorf("%w: cert: that is the current root", ErrInvalid)
		}
		rec.NextCert, rec.NextKey = next.Cert, next.Key
		rec.Phase, rec.Since, rec.FinishAt = PhasePropagating, now, time.Time{}
		return nil
	})
}

// Promote makes the announced root the signing one and keeps the old one
// in the bundle until now+overlap: the phase becomes overlap.
func (a *Authority) Promote(ctx context.Context, overlap time.Duration) (Rotation, error) {
	return a.step(ctx, "promote", func(rec *rootRecord, now time.Time) error {
		if rec.Phase != PhasePropagating {
			return fmt.Errorf("%w: promote needs phase %q; the CA is in %q", ErrRotation, PhasePropagating, rec.Phase)
		}
		rec.Previous = append([]string{rec.Cert}, rec.Previous...)
		rec.Cert, rec.Key, rec.NextCert, rec.NextKey = rec.NextCert, rec.NextKey, "", ""
		rec.Phase, rec.Since, rec.FinishAt = PhaseOverlap, now, now.Add(overlap)
		return nil
	})
}

// Finish drops the old roots from the bundle: leaves they signed are
// refused from then on. It needs phase overlap.
func (a *Authority) Finish(ctx context.Context) (Rotation, error) {
	return a.step(ctx, "finish", func(rec *rootRecord, now time.Time) error {
		if rec.Phase != PhaseOverlap {
			return fmt.Errorf("%w: finish needs phase %q; the CA is in %q", ErrRotation, PhaseOverlap, rec.Phase)
		}
		rec.Previous = nil
		rec.Phase, rec.Since, rec.FinishAt = PhaseNone, now, time.Time{}
		return nil
	})
}

// Reload reads the stored record when another replica changed it; it
// reports whether the keys changed.
func (a *Authority) Reload(ctx context.Context) (bool, error) {
	if a.st == nil {
		return false, nil
	}
	kv, err := a.st.Get(ctx, rootKey)
	if err != nil {
		return false, fmt.Errorf("reload root: %w", err)
	}
	if kv.ModRevision == a.k.Load().rev {
		return false, nil
	}
	var rec rootRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return false, fmt.Errorf("reload root: %w", err)
	}
	if err := a.useRecord(&rec, kv.ModRevision); err != nil {
		return false, fmt.Errorf("reload root: %w", err)
	}
	return true, nil
}

// RootKey is the store key of the CA's record, for watching it.
const RootKey = rootKey

// step applies change to the stored record with a compare-and-swap, then
// uses the result. A conflict (another replica moved first) rereads once
// so the step is judged against the phase that replica left.
func (a *Authority) step(ctx context.Context, what string, change func(*rootRecord, time.Time) error) (Rotation, error) {
	if a.st == nil {
		return Rotation{}, fmt.Errorf("%w: the CA signs with the operator's --ca-cert; rotate by restarting with new files listing both roots", ErrRotation)
	}
	for attempt := 0; ; attempt++ {
		kv, err := a.st.Get(ctx, rootKey)
		if err != nil {
			return Rotation{}, fmt.Errorf("%s: %w", what, err)
		}
		var rec rootRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return Rotation{}, fmt.Errorf("%s: %w", what, err)
		}
		if err := change(&rec, a.now()); err != nil {
			return Rotation{}, err
		}
		data, err := json.Marshal(&rec)
		if err != nil {
			return Rotation{}, fmt.Errorf("%s: %w", what, err)
		}
		rev, err := a.st.Put(ctx, rootKey, data, store.IfModRevision(kv.ModRevision))
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return Rotation{}, fmt.Errorf("%s: %w", what, err)
		}
		if err := a.useRecord(&rec, rev); err != nil {
			return Rotation{}, fmt.Errorf("%s: %w", what, err)
		}
		k := a.k.Load()
		a.log.Info("root rotation", "step", what, "phase", rec.Phase, "signing", identity.CertPin(k.roots[0]), "bundle", len(k.roots))
		return k.rot, nil
	}
}

// operatorRoot checks a root an operator supplies for a rotation: one
// self-signed CA certificate allowed to sign, of this trust domain if it
// names one, valid for at least one SVID lifetime, with its key. The key
// is stored as PKCS#8 and never quoted in an error.
func (a *Authority) operatorRoot(certPEM, keyPEM string) (*rootRecord, error) {
	if certPEM == "" || keyPEM == "" {
		return nil, fmt.Errorf("%w: cert and key go together", ErrInvalid)
	}
	certs, err := parseCerts([]byte(certPEM))
	if err != nil {
		return nil, fmt.Errorf("%w: cert: %w", ErrInvalid, err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%w: cert: want one root certificate, got %d", ErrInvalid, len(certs))
	}
	root := certs[0]
	key, err := parseKey([]byte(keyPEM))
	if err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrInvalid, err)
	}
	now := a.now()
	switch {
	case !root.IsCA || root.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, fmt.Errorf("%w: cert: not a CA certificate allowed to sign certificates", ErrInvalid)
	case root.CheckSignatureFrom(root) != nil:
		return nil, fmt.Errorf("%w: cert: not self-signed (a root is; an intermediate needs --ca-cert)", ErrInvalid)
	case !signerMatches(key, root):
		return nil, fmt.Errorf("%w: key: does not match cert", ErrInvalid)
	case now.Before(root.NotBefore) || now.Add(a.ttl).After(root.NotAfter):
		return nil, fmt.Errorf("%w: cert: must be valid from now for at least one SVID lifetime (%s); valid %s to %s", ErrInvalid, a.ttl, root.NotBefore, root.NotAfter)
	}
	if err := checkKey(root.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: cert: %w", ErrInvalid, err)
	}
	for _, u := range root.URIs {
		if u.Scheme == "spiffe" && u.Host != a.td.Name() {
			return nil, fmt.Errorf("%w: cert: names trust domain %q, not %q", ErrInvalid, u.Host, a.td.Name())
		}
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: key: cannot be stored as PKCS#8", ErrInvalid)
	}
	return &rootRecord{
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})),
		Key:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})),
	}, nil
}
