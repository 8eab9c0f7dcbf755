package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
)

// maxEjection bounds every ejection duration, so no config can take an
// endpoint out for longer than a day.
const maxEjection = 24 * time.Hour

func validateOutlier(p string, o *breaker.OutlierConfig) error {
	var errs []error
	for name, v := range map[string]uint32{
		"enforcing5xx": o.Enforcing5xx, "enforcingGateway": o.EnforcingGateway, "enforcingLocalOrigin": o.EnforcingLocalOrigin,
		"enforcingSuccessRate": o.EnforcingSuccessRate, "maxEjectionPercent": o.MaxEjectionPercent,
	} {
		if v > 100 {
			errs = append(errs, fmt.Errorf("%s.%s: must be a percentage 0..100; got %d", p, name, v))
		}
	}
	for name, v := range map[string]time.Duration{
		"interval": o.Interval, "baseEjectionTime": o.BaseEjectionTime, "maxEjectionTime": o.MaxEjectionTime,
	} {
		if v < 0 || v > maxEjection {
			errs = append(errs, fmt.Errorf("%s.%s: must be in 0..24h; got %v", p, name, v))
		}
	}
	if o.Interval > 0 && o.Interval < time.Millisecond {
		errs = append(errs, fmt.Errorf("%s.interval: must be at least 1ms; got %v", p, o.Interval))
	}
	return errors.Join(errs...)
}
