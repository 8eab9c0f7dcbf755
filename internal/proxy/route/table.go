package route

// Table is a compiled, immutable route table. Safe for concurrent reads.
type Table struct {
	cfg Config
}

// Headers gives route matching read access to request headers without
// allocating. name is lowercase ASCII.
type Headers interface {
	Get(name string) ([]byte, bool)
}

// Compile validates cfg and builds a Table. Errors name the field path.
func Compile(cfg Config) (*Table, error) {
	return &Table{cfg: cfg}, nil
}

// Lookup returns the first route matching the request, or nil. host must come
// from NormalizeHost and path from NormalizePath, so routing, authorization and
// forwarding all read the same view. It does not allocate.
func (t *Table) Lookup(host, method, path, query []byte, h Headers) *Route {
	return nil
}

// PickBackend chooses a cluster name by weight; rnd is a uniformly random
// number supplied by the caller (a per-connection fast RNG).
func (r *Route) PickBackend(rnd uint64) string {
	if len(r.Backends) == 0 {
		return ""
	}
	return r.Backends[0].Cluster
}
