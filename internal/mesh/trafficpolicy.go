package mesh

// TrafficPolicy sets how clients talk to one Service: load balancing and
// connection pooling now; retries, timeouts, circuit breaking and outlier
// detection are typed here so the traffic-management work fills them in.
type TrafficPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta        `json:"metadata"`
	Spec     TrafficPolicySpec `json:"spec"`
	Status   Status            `json:"status,omitzero"`
}

// TrafficPolicySpec describes a TrafficPolicy.
type TrafficPolicySpec struct {
	TargetRef        TargetRef         `json:"targetRef"`
	LoadBalancer     *LoadBalancer     `json:"loadBalancer,omitempty"`
	ConnectionPool   *ConnectionPool   `json:"connectionPool,omitempty"`
	Retries          *Retries          `json:"retries,omitempty"`
	CircuitBreaker   *CircuitBreaker   `json:"circuitBreaker,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
}

// TargetRef names the Service a policy applies to.
type TargetRef struct {
	Kind string `json:"kind,omitempty"` // Service (default)
	Name string `json:"name"`
}

// LoadBalancer picks the balancer. Type: P2C_EWMA (default), ROUND_ROBIN,
// RING_HASH (with hashOn).
type LoadBalancer struct {
	Type   string  `json:"type,omitempty"`
	HashOn *HashOn `json:"hashOn,omitempty"`
}

// HashOn names one header or one cookie.
type HashOn struct {
	Header string `json:"header,omitempty"`
	Cookie string `json:"cookie,omitempty"`
}

// ConnectionPool caps connections per endpoint. Durations like "2s".
type ConnectionPool struct {
	MaxConnections int32  `json:"maxConnections,omitempty"`
	MaxIdle        int32  `json:"maxIdle,omitempty"`
	ConnectTimeout string `json:"connectTimeout,omitempty"`
	IdleTimeout    string `json:"idleTimeout,omitempty"`
}

// Retries is reserved for the traffic-management work.
type Retries struct {
	Attempts      int32    `json:"attempts,omitempty"`
	PerTryTimeout string   `json:"perTryTimeout,omitempty"`
	RetryOn       []string `json:"retryOn,omitempty"`
	BudgetPercent int32    `json:"budgetPercent,omitempty"`
}

// CircuitBreaker is reserved for the traffic-management work.
type CircuitBreaker struct {
	MaxPendingRequests int32 `json:"maxPendingRequests,omitempty"`
	MaxRequests        int32 `json:"maxRequests,omitempty"`
}

// OutlierDetection is reserved for the traffic-management work.
type OutlierDetection struct {
	Consecutive5xx     int32  `json:"consecutive5xx,omitempty"`
	Interval           string `json:"interval,omitempty"`
	BaseEjectionTime   string `json:"baseEjectionTime,omitempty"`
	MaxEjectionPercent int32  `json:"maxEjectionPercent,omitempty"`
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
		if cp.MaxIdle < 0 {
			v.add("spec.connectionPool.maxIdle", "must be >= 0")
		}
		checkDuration(&v, "spec.connectionPool.connectTimeout", cp.ConnectTimeout)
		checkDuration(&v, "spec.connectionPool.idleTimeout", cp.IdleTimeout)
	}
	if r := p.Spec.Retries; r != nil {
		if r.Attempts < 0 || r.Attempts > 10 {
			v.add("spec.retries.attempts", "must be 0..10")
		}
		checkDuration(&v, "spec.retries.perTryTimeout", r.PerTryTimeout)
		if r.BudgetPercent < 0 || r.BudgetPercent > 100 {
			v.add("spec.retries.budgetPercent", "must be 0..100")
		}
	}
	if o := p.Spec.OutlierDetection; o != nil {
		checkDuration(&v, "spec.outlierDetection.interval", o.Interval)
		checkDuration(&v, "spec.outlierDetection.baseEjectionTime", o.BaseEjectionTime)
		if o.MaxEjectionPercent < 0 || o.MaxEjectionPercent > 100 {
			v.add("spec.outlierDetection.maxEjectionPercent", "must be 0..100")
		}
	}
	return v.err()
}
