package mesh

// TrafficPolicy sets how clients talk to one Service: load balancing,
// connection pooling, retries, circuit breaking, outlier detection and a
// rate limit.
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
	// CircuitBreaker caps what each client sidecar has in flight to the
	// Service; past a cap a request fails at once with 503 and the UO
	// response flag. Optional: no caps without it.
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`
	// OutlierDetection ejects instances that fail, judged by each client
	// sidecar from its own requests (no probes needed). Optional: no
	// ejection without it.
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// RateLimit is one token bucket for all requests to the Service from
	// each client sidecar, shared by every route to it; a rule's own
	// RateLimit filter takes its place for the requests that rule matches.
	// Optional.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
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
	// LocalityAware makes a caller whose sidecar knows its locality
	// prefer instances in its own zone, then its region, then the rest,
	// moving traffic on when fewer than 71.4 % of a tier's instances are
	// healthy (Envoy's priority failover, overprovisioning factor 1.4;
	// pair it with outlierDetection). false spreads requests over every
	// instance whatever its zone. Default true (it only acts for callers
	// with a locality). Envoy: common_lb_config.zone_aware_lb_config.
	LocalityAware *bool `json:"localityAware,omitempty"`
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
	// MaxIdle caps idle pooled connections kept to each instance, 0..65535;
	// 0 means the sidecar's default (128).
	MaxIdle int32 `json:"maxIdle,omitempty"`
	// ConnectTimeout bounds dial and handshake, up to 24h. Default 2s.
	ConnectTimeout string `json:"connectTimeout,omitempty"`
	// IdleTimeout closes a pooled connection idle this long, up to 24h.
	// Default 60s.
	IdleTimeout string `json:"idleTimeout,omitempty"`
}

// CircuitBreaker caps, per client sidecar, what is in flight to the whole
// Service (Envoy's per-cluster thresholds). Each field is a count in
// 0..1000000; 0 means Envoy's default: 1024 for the first three, 3 for
// maxRetries.
type CircuitBreaker struct {
	// MaxConnections caps open connections to all instances together.
	// Default 1024.
	MaxConnections int32 `json:"maxConnections,omitempty"`
	// MaxPendingRequests caps requests waiting for a connection to be
	// opened. Default 1024.
	MaxPendingRequests int32 `json:"maxPendingRequests,omitempty"`
	// MaxRequests caps requests in flight. Default 1024.
	MaxRequests int32 `json:"maxRequests,omitempty"`
	// MaxRetries caps requests retrying at once. Default 3. A retry budget
	// (retries.budgetPercent or retries.minRetriesPerSecond) replaces it,
	// as in Envoy.
	MaxRetries int32 `json:"maxRetries,omitempty"`
}

// OutlierDetection ejects failing instances for a while (Envoy's outlier
// detection, passive). Durations like "10s", each in 1ms..24h.
type OutlierDetection struct {
	// Consecutive5xx: this many 5xx answers in a row eject an instance.
	// Default 5; 0 turns the check off.
	Consecutive5xx *int32 `json:"consecutive5xx,omitempty"`
	// ConsecutiveGatewayErrors: this many 502, 503 or 504 in a row (or
	// failures to get any answer) eject an instance. Default 0: off.
	ConsecutiveGatewayErrors int32 `json:"consecutiveGatewayErrors,omitempty"`
	// ConsecutiveConnectFailures: this many failures to get any answer in
	// a row (connect failure, reset, timeout) eject an instance; setting it
	// counts those apart from 5xx answers (Envoy's
	// consecutive_local_origin_failure with split_external_local_origin_errors).
	// Default 0: they count as gateway errors.
	ConsecutiveConnectFailures int32 `json:"consecutiveConnectFailures,omitempty"`
	// Interval is how often success rates are judged and ejection
	// multipliers of healthy instances shrink. Default 10s.
	Interval string `json:"interval,omitempty"`
	// BaseEjectionTime is the first ejection's length; the nth ejection of
	// an instance lasts n times it. Default 30s.
	BaseEjectionTime string `json:"baseEjectionTime,omitempty"`
	// MaxEjectionTime caps one ejection's length. Default 300s.
	MaxEjectionTime string `json:"maxEjectionTime,omitempty"`
	// MaxEjectionPercent caps the share of instances ejected at once,
	// 0..100, though one instance may always be ejected. Default 10.
	MaxEjectionPercent *int32 `json:"maxEjectionPercent,omitempty"`
	// SuccessRate, when set, also ejects instances whose success rate in
	// an interval lies far below the others'. Default off.
	SuccessRate *SuccessRate `json:"successRate,omitempty"`
}

// SuccessRate ejects statistical outliers by success rate.
type SuccessRate struct {
	// MinimumHosts is how many instances need requestVolume requests in
	// an interval for the check to run. Default 5.
	MinimumHosts int32 `json:"minimumHosts,omitempty"`
	// RequestVolume is the requests an instance needs in an interval to
	// be judged. Default 100.
	RequestVolume int32 `json:"requestVolume,omitempty"`
	// StdevFactor, in thousandths: an instance whose success rate is below
	// mean - stdev*stdevFactor/1000 is ejected. Default 1900 (1.9).
	StdevFactor int32 `json:"stdevFactor,omitempty"`
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
	defaultRateLimit(p.Spec.RateLimit)
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
		if cp.MaxIdle < 0 || cp.MaxIdle > 65535 {
			v.add("spec.connectionPool.maxIdle", "must be in 0..65535; got %d", cp.MaxIdle)
		}
		checkDuration(&v, "spec.connectionPool.connectTimeout", cp.ConnectTimeout)
		checkDuration(&v, "spec.connectionPool.idleTimeout", cp.IdleTimeout)
	}
	if p.Spec.RateLimit != nil {
		validateRateLimit(&v, "spec.rateLimit", p.Spec.RateLimit)
	}
	if r := p.Spec.Retries; r != nil {
		validateRetries(&v, "spec.retries", r)
	}
	validateBreaker(&v, p.Spec.CircuitBreaker)
	validateOutlier(&v, p.Spec.OutlierDetection)
	return v.err()
}
