package client

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// maxEjectionDuration bounds every outlier duration Weft accepts.
const maxEjectionDuration = 24 * time.Hour

// outlierToProxy maps outlier_detection with Envoy's defaults for unset
// fields, and refuses what Envoy's rules refuse (percentages above 100,
// durations not above 0).
func outlierToProxy(o *envoypb.OutlierDetection) (*breaker.OutlierConfig, error) {
	if o == nil {
		return nil, nil
	}
	pcts := []struct {
		name string
		v    *wrapperspb.UInt32Value
	}{
		{"max_ejection_percent", o.GetMaxEjectionPercent()},
		{"enforcing_consecutive_5xx", o.GetEnforcingConsecutive_5Xx()},
		{"enforcing_success_rate", o.GetEnforcingSuccessRate()},
		{"enforcing_consecutive_gateway_failure", o.GetEnforcingConsecutiveGatewayFailure()},
		{"enforcing_consecutive_local_origin_failure", o.GetEnforcingConsecutiveLocalOriginFailure()},
		{"enforcing_local_origin_success_rate", o.GetEnforcingLocalOriginSuccessRate()},
	}
	for _, p := range pcts {
		if p.v.GetValue() > 100 {
			return nil, invalid(p.name, "must be a percentage 0..100; got %d", p.v.GetValue())
		}
	}
	durs := []struct {
		name string
		v    *durationpb.Duration
		def  time.Duration
		out  *time.Duration
	}{
		{"interval", o.GetInterval(), 10 * time.Second, nil},
		{"base_ejection_time", o.GetBaseEjectionTime(), 30 * time.Second, nil},
		{"max_ejection_time", o.GetMaxEjectionTime(), 300 * time.Second, nil},
	}
	cfg := &breaker.OutlierConfig{
		Consecutive5xx:           wrapped(o.GetConsecutive_5Xx(), 5),
		Enforcing5xx:             wrapped(o.GetEnforcingConsecutive_5Xx(), 100),
		ConsecutiveGateway:       wrapped(o.GetConsecutiveGatewayFailure(), 5),
		EnforcingGateway:         wrapped(o.GetEnforcingConsecutiveGatewayFailure(), 0),
		SplitLocalOrigin:         o.GetSplitExternalLocalOriginErrors(),
		ConsecutiveLocalOrigin:   wrapped(o.GetConsecutiveLocalOriginFailure(), 5),
		EnforcingLocalOrigin:     wrapped(o.GetEnforcingConsecutiveLocalOriginFailure(), 100),
		MaxEjectionPercent:       wrapped(o.GetMaxEjectionPercent(), 10),
		EnforcingSuccessRate:     wrapped(o.GetEnforcingSuccessRate(), 100),
		SuccessRateMinimumHosts:  wrapped(o.GetSuccessRateMinimumHosts(), 5),
		SuccessRateRequestVolume: wrapped(o.GetSuccessRateRequestVolume(), 100),
		SuccessRateStdevFactor:   wrapped(o.GetSuccessRateStdevFactor(), 1900),
	}
	durs[0].out, durs[1].out, durs[2].out = &cfg.Interval, &cfg.BaseEjectionTime, &cfg.MaxEjectionTime
	for _, d := range durs {
		*d.out = d.def
		if d.v == nil {
			continue
		}
		if d.v.CheckValid() != nil || d.v.AsDuration() <= 0 || d.v.AsDuration() > maxEjectionDuration {
			return nil, invalid(d.name, "must be a duration in (0, 24h]")
		}
		*d.out = d.v.AsDuration()
	}
	if cfg.SplitLocalOrigin && wrapped(o.GetEnforcingLocalOriginSuccessRate(), 0) > 0 {
		// Envoy's default is 100, but only an explicit value is refused:
		// Weft judges success rate on answered requests alone.
		return nil, unsupported("enforcing_local_origin_success_rate", "local-origin success rate is not implemented")
	}
	return cfg, nil
}

// maxIdleKey is translate.MaxIdleKey (duplicated so translate is not linked).
const maxIdleKey = "max_idle_per_endpoint"

// clusterMetadataToProxy reads Weft's cluster metadata: the idle pool cap.
func clusterMetadataToProxy(m *envoypb.Metadata, cc *cluster.Config) error {
	if m == nil {
		return nil
	}
	if len(m.GetFilterMetadata())+len(m.GetTypedFilterMetadata()) > maxMapEntries {
		return overLimit("metadata", maxMapEntries)
	}
	v, ok := m.GetFilterMetadata()[labelsKey].GetFields()[maxIdleKey]
	if !ok {
		return nil
	}
	_, isNum := v.GetKind().(*structpb.Value_NumberValue)
	f := v.GetNumberValue()
	if !isNum || f < 0 || f > 65535 || f != float64(int(f)) {
		return invalid("metadata.weft."+maxIdleKey, "must be an integer in 0..65535")
	}
	cc.MaxIdlePerEndpoint = int(f)
	return nil
}
