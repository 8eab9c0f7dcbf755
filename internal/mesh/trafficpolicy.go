package mesh

// TrafficPolicy sets how clients talk to one Service: load balancing,
// connection pooling and retries now. Circuit breaking and outlier detection
// are typed so manifests can be checked, and refused until the sidecar
// enforces them.
type TrafficPolicy struct {
	TypeMeta `json:",inline"`
	// Metadata names the policy.
	Metadata ObjectMeta `json:"metadata"`
	// Spec is the policy.
	Spec TrafficPolicySpec `json:"spec"`
	// Status is written by the control plane; ignored on apply.
	Status Status `json:"status,omitzero"`
}

// TrafficPolicySpec describes a TrafficPolicy.
type TrafficPolicySpec struct {
	// TargetRef names the Service the policy applies to. Required.
	TargetRef TargetRef `json:"targetRef"`
	// LoadBalancer picks how requests spread over instances. Optional.
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty"`
	// ConnectionPool bounds connections to each instance. Optional.
	ConnectionPool *ConnectionPool `json:"connectionPool,omitempty"`
	// Retries sets how requests to the Service are retried and the
	// Service's retry budget. Optional: without it a connect failure is
	// still retried once on another instance, within the default budget.
	Retries *Retries `json:"retries,omitempty"`
	// CircuitBreaker: not supported yet.
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`
	// OutlierDetection: not supported yet.
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
}

// TargetRef names the Service a policy applies to.
type TargetRef struct {
	// Kind must be Service. Default Service.
	Kind string `json:"kind,omitempty"`
	// Name is the Service, in the policy's namespace. Required.
	Name string `json:"name"`
}

// LoadBalancer picks the balancer.
type LoadBalancer struct {
	// Type is P2C_EWMA (power of two choices over peak-EWMA latency),
	// ROUND_ROBIN or RING_HASH (with hashOn). Default P2C_EWMA.
	Type string `json:"type,omitempty"`
	// HashOn is the RING_HASH key; required with RING_HASH, refused
	// otherwise.
	HashOn *HashOn `json:"hashOn,omitempty"`
}

// HashOn names one header or one cookie; set exactly one.
type HashOn struct {
	// Header is a request header whose value keys the hash.
	Header string `json:"header,omitempty"`
	// Cookie is a cookie whose value keys the hash.
	Cookie string `json:"cookie,omitempty"`
}

// ConnectionPool caps connections per endpoint. Durations like "2s".
type ConnectionPool struct {
	// MaxConnections caps connections to each instance; 0 means the
	// sidecar's default (1024).
	MaxConnections int32 `json:"maxConnections,omitempty"`
	// MaxIdle would cap idle pooled connections. Not supported yet.
	MaxIdle int32 `json:"maxIdle,omitempty"`
	// ConnectTimeout bounds dial and handshake, up to 24h. Default 2s.
	ConnectTimeout string `json:"connectTimeout,omitempty"`
	// IdleTimeout closes a pooled connection idle this long, up to 24h.
	// Default 60s.
	IdleTimeout string `json:"idleTimeout,omitempty"`
}

// CircuitBreaker will cap requests in flight. Not supported yet: refused.
type CircuitBreaker struct {
	// MaxPendingRequests caps requests waiting for a connection.
	MaxPendingRequests int32 `json:"maxPendingRequests,omitempty"`
	// MaxRequests caps requests in flight to the Service.
	MaxRequests int32 `json:"maxRequests,omitempty"`
}

// OutlierDetection will eject failing instances. Not supported yet:
// refused.
type OutlierDetection struct {
	// Consecutive5xx failures eject an instance.
	Consecutive5xx int32 `json:"consecutive5xx,omitempty"`
	// Interval between ejection sweeps, e.g. 10s.
	Interval string `json:"interval,omitempty"`
	// BaseEjectionTime is the first ejection's length, e.g. 30s.
	BaseEjectionTime string `json:"baseEjectionTime,omitempty"`
	// MaxEjectionPercent caps the share of instances ejected, 0..100.
	MaxEjectionPercent int32 `json:"maxEjectionPercent,omitempty"`
}

func (p *TrafficPolicy) GetTypeMeta() TypeMeta { return p.TypeMeta }
func (p *TrafficPolicy) GetMeta() *ObjectMeta  { return &p.Metadata }
func (p *TrafficPolicy) GetStatus() *Status    { return &p.Status }

// SetDefaults fills documented defaults.
func (p *TrafficPolicy) SetDefaults() {
	defaultMeta(&p.Metadata)
	if p.Spec.TargetRef.Kind == "" {
		p.Spec.TargetRef.Kind = KindService
	}
	if lb := p.Spec.LoadBalancer; lb != nil && lb.Type == "" {
		lb.Type = "P2C_EWMA"
	}
}

// Validate reports every invalid field with its path.
func (p *TrafficPolicy) Validate() error {
	var v errs
	validateMeta(&v, &p.Metadata)
	t := p.Spec.TargetRef
	if t.Kind != KindService {
		v.add("spec.targetRef.kind", "must be Service; got %q", t.Kind)
	}
	if !dnsLabel(t.Name) {
		v.add("spec.targetRef.name", "must be a DNS-1123 label; got %q", t.Name)
	}
	if lb := p.Spec.LoadBalancer; lb != nil {
		switch lb.Type {
		case "P2C_EWMA", "ROUND_ROBIN":
			if lb.HashOn != nil {
				v.add("spec.loadBalancer.hashOn", "only for RING_HASH")
			}
		case "RING_HASH":
			if lb.HashOn == nil || (lb.HashOn.Header == "") == (lb.HashOn.Cookie == "") {
				v.add("spec.loadBalancer.hashOn", "RING_HASH needs exactly one of header or cookie")
			}
		default:
			v.add("spec.loadBalancer.type", "must be P2C_EWMA, ROUND_ROBIN or RING_HASH; got %q", lb.Type)
		}
	}
	if cp := p.Spec.ConnectionPool; cp != nil {
		if cp.MaxConnections < 0 {
			v.add("spec.connectionPool.maxConnections", "must be >= 0")
		}
		if cp.MaxIdle != 0 {
			v.unsupported("spec.connectionPool.maxIdle", "")
		}
		checkDuration(&v, "spec.connectionPool.connectTimeout", cp.ConnectTimeout)
		checkDuration(&v, "spec.connectionPool.idleTimeout", cp.IdleTimeout)
	}
	// Refused until the sidecar enforces them: accepting them would report
	// a policy Programmed that does nothing.
	if r := p.Spec.Retries; r != nil {
		validateRetries(&v, "spec.retries", r)
	}
	if p.Spec.CircuitBreaker != nil {
		v.unsupported("spec.circuitBreaker", "")
	}
	if p.Spec.OutlierDetection != nil {
		v.unsupported("spec.outlierDetection", "")
	}
	return v.err()
}
