package route

import "github.com/weft-mesh/weft/internal/proxy/ratelimit"

// Filtered reports whether requests on r pass a filter (fault or rate
// limit) before they are forwarded: one branch on the hot path when none.
func (r *Route) Filtered() bool { return r.Fault != nil || r.bucket != nil }

// Bucket is the token bucket limiting r, its own or its virtual host's;
// nil means unlimited.
func (r *Route) Bucket() *ratelimit.Bucket { return r.bucket }

// buckets indexes a previous table's buckets, so a config push that leaves
// a limit unchanged keeps its bucket (and its debt): refilling every bucket
// on each push would let a client through at burst rate whenever anything
// in the mesh changed.
type buckets struct {
	host  map[string]*ratelimit.Bucket // by virtual host name
	route map[string]*ratelimit.Bucket // by virtual host name + "\x00" + route name
}

func indexBuckets(t *Table) buckets {
	b := buckets{host: map[string]*ratelimit.Bucket{}, route: map[string]*ratelimit.Bucket{}}
	if t == nil {
		return b
	}
	seen := map[*vhost]bool{}
	add := func(vh *vhost) {
		if vh == nil || seen[vh] {
			return
		}
		seen[vh] = true
		if vh.bucket != nil {
			b.host[vh.name] = vh.bucket
		}
		for _, c := range vh.routes {
			if c.route.RateLimit != nil && c.route.bucket != nil {
				b.route[vh.name+"\x00"+c.route.Name] = c.route.bucket
			}
		}
	}
	for _, vh := range t.exact {
		add(vh)
	}
	for _, w := range t.wildcards {
		add(w.vh)
	}
	add(t.any)
	return b
}

// reuse returns old when it enforces cfg, else a new bucket (nil for an
// invalid cfg, which Compile reports).
func reuse(old *ratelimit.Bucket, cfg ratelimit.Config) *ratelimit.Bucket {
	if old != nil && old.Config() == cfg {
		return old
	}
	return ratelimit.New(cfg)
}
