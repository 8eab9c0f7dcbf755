package client

import (
	"errors"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Out-of-range breaker and outlier settings are NACKed naming the field;
// unset fields take Envoy's defaults.
func TestResilienceDecode(t *testing.T) {
	bad := []struct {
		name string
		c    *clusterv3.Cluster
		want string
		is   error
	}{
		{"percent", &clusterv3.Cluster{Name: "c", OutlierDetection: &clusterv3.OutlierDetection{MaxEjectionPercent: wrapperspb.UInt32(101)}},
			"outlier_detection: max_ejection_percent", ErrInvalid},
		{"enforcing", &clusterv3.Cluster{Name: "c", OutlierDetection: &clusterv3.OutlierDetection{EnforcingConsecutive_5Xx: wrapperspb.UInt32(200)}},
			"enforcing_consecutive_5xx", ErrInvalid},
		{"interval", &clusterv3.Cluster{Name: "c", OutlierDetection: &clusterv3.OutlierDetection{Interval: durationpb.New(0)}},
			"outlier_detection: interval", ErrInvalid},
		{"ejection", &clusterv3.Cluster{Name: "c", OutlierDetection: &clusterv3.OutlierDetection{BaseEjectionTime: durationpb.New(-time.Second)}},
			"base_ejection_time", ErrInvalid},
		{"local sr", &clusterv3.Cluster{Name: "c", OutlierDetection: &clusterv3.OutlierDetection{SplitExternalLocalOriginErrors: true, EnforcingLocalOriginSuccessRate: wrapperspb.UInt32(100)}},
			"enforcing_local_origin_success_rate", ErrUnsupported},
		{"per host", &clusterv3.Cluster{Name: "c", CircuitBreakers: &clusterv3.CircuitBreakers{PerHostThresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxRequests: wrapperspb.UInt32(1)}}}},
			"per_host_thresholds", ErrUnsupported},
		{"max idle", &clusterv3.Cluster{Name: "c", Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"weft": {Fields: map[string]*structpb.Value{"max_idle_per_endpoint": structpb.NewStringValue("8")}}}}},
			"max_idle_per_endpoint", ErrInvalid},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeCluster(marshal(t, tt.c))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.is) {
				t.Fatalf("err = %v; want %q (%v)", err, tt.want, tt.is)
			}
		})
	}
	cc, err := decodeCluster(marshal(t, &clusterv3.Cluster{Name: "c",
		CircuitBreakers:  &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxRequests: wrapperspb.UInt32(7)}}},
		OutlierDetection: &clusterv3.OutlierDetection{}}))
	if err != nil {
		t.Fatal(err)
	}
	b, o := cc.Breaker, cc.Outlier
	if b.MaxRequests != 7 || b.MaxConnections != 1024 || b.MaxPendingRequests != 1024 || b.MaxRetries != 3 {
		t.Errorf("breaker defaults: %+v", b)
	}
	if o == nil || o.Consecutive5xx != 5 || o.Enforcing5xx != 100 || o.EnforcingGateway != 0 || o.Interval != 10*time.Second ||
		o.BaseEjectionTime != 30*time.Second || o.MaxEjectionTime != 300*time.Second || o.MaxEjectionPercent != 10 || o.SuccessRateStdevFactor != 1900 {
		t.Errorf("outlier defaults: %+v", o)
	}
}
