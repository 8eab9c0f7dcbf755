package lean

// breakers is a Cluster's CircuitBreakers (thresholds 1; each with
// priority 1 and max_connections 2, a UInt32Value). Weft reads max_connections of
// the first threshold only (the DEFAULT priority, as translate writes it).
type breakers struct {
	seen  bool // a threshold was read; later ones do not replace the first
	first u32
	err   error // an undefined priority, reported after the walk
}

func (c *breakers) merge(b []byte) error {
	return walk(b, func(f field) error {
		if !f.is(1, bytesT) {
			return nil
		}
		first := !c.seen
		c.seen = true
		return walk(f.b, func(f field) error {
			switch {
			case f.is(1, varintT):
				// RoutingPriority: DEFAULT 0, HIGH 1 are the defined values.
				if p := int32(f.u); p != 0 && p != 1 && c.err == nil {
					c.err = invalid("thresholds.priority", "undefined priority %d", p)
				}
			case f.is(2, bytesT) && first:
				return c.first.merge(f.b)
			}
			return nil
		})
	})
}

// httpOptions is the extensions.upstreams.http.v3.HttpProtocolOptions
// inside a cluster's typed_extension_protocol_options: its
// common_http_protocol_options 1 (idle_timeout 1), and the oneof
// explicit_http_config 3 (itself a oneof of http 1, http2 2, http3 3),
// use_downstream_protocol_config 4, auto_config 5.
type httpOptions struct {
	idleTimeout  duration
	upstreamKind int // last member of upstream_protocol_options seen
	protocolKind int // last member of explicit_http_config.protocol_config
}

// http2 is client.ToProxy's test: explicit_http_config with
// http2_protocol_options. Auto and downstream-matching configs stay HTTP/1.1.
func (o *httpOptions) http2() bool { return o.upstreamKind == 3 && o.protocolKind == 2 }

func (o *httpOptions) merge(b []byte) error {
	return walk(b, func(f field) error {
		switch {
		case f.is(1, bytesT): // common_http_protocol_options
			return walk(f.b, func(f field) error {
				if f.is(1, bytesT) {
					return o.idleTimeout.merge(f.b)
				}
				return nil
			})
		case f.is(3, bytesT): // explicit_http_config
			if o.upstreamKind != 3 {
				o.protocolKind = 0 // a oneof switch starts a fresh message
			}
			o.upstreamKind = 3
			return walk(f.b, func(f field) error {
				if f.typ == bytesT && f.num >= 1 && f.num <= 3 {
					o.protocolKind = int(f.num)
				}
				return nil
			})
		case f.is(4, bytesT), f.is(5, bytesT):
			o.upstreamKind = int(f.num)
		}
		return nil
	})
}
