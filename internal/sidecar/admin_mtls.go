package sidecar

// InboundMTLSDump is one inbound port's effective mTLS mode on /config.
type InboundMTLSDump struct {
	Name string `json:"name"`
	// Mode is STRICT or PERMISSIVE.
	Mode string `json:"mode"`
	// Source is controlPlane when the sidecar's Service sets
	// spec.mtls.mode (which wins over the bootstrap), else bootstrap
	// (inbound[].mtls, STRICT by default).
	Source string `json:"source"`
}

// dumpInboundMTLS lists the inbound ports' modes; none without an
// identity (every port is plaintext then).
func (s *Sidecar) dumpInboundMTLS(cfg *Config) []InboundMTLSDump {
	if s.mesh == nil {
		return nil
	}
	out := make([]InboundMTLSDump, 0, len(cfg.Inbound))
	for _, in := range cfg.Inbound {
		m, src := s.mtlsMode(in.Name)
		out = append(out, InboundMTLSDump{Name: in.Name, Mode: m, Source: src})
	}
	return out
}
