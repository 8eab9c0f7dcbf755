package registry

import (
	"context"
	"fmt"
)

// Lease returns the lease holding an instance's registration; an error
// wrapping store.ErrNotFound when it is not registered.
func (r *Registry) Lease(ctx context.Context, service, id string) (int64, error) {
	kv, err := r.st.Get(ctx, key(service, id))
	if err != nil {
		return 0, fmt.Errorf("lease of %s/%s: %w", service, id, err)
	}
	return kv.Lease, nil
}
