package sidecar

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
)

// registrar keeps this sidecar's instance registered: it probes the app,
// renews the lease well within its TTL, and reports readiness changes at
// once. Any control-plane replica can serve it, since the lease lives in
// the shared store.
type registrar struct {
	s      *Sidecar
	api    *apiclient.Client
	inst   api.Instance
	probe  Probe
	app    string // the probed app address
	client *http.Client
	lease  int64
	ttl    time.Duration
}

func (s *Sidecar) newRegistrar(cfg *Config, addrs Addrs, trust *cpTrust) (*registrar, error) {
	r := cfg.Register
	// The sidecar's certificate is its credential: the control plane
	// admits it for the service its SPIFFE ID names.
	// One connection per heartbeat: a pooled one would keep presenting
	// the certificate of its handshake after a rotation, and be refused
	// once that one expires (a handshake per renewal, every few seconds,
	// costs nothing that matters).
	c, err := apiclient.NewWith(apiclient.Options{TLS: trust.config(), FreshConnections: true}, cfg.ControlPlane.API...)
	if err != nil {
		return nil, err
	}
	in := cfg.Inbound[0]
	host, port, err := net.SplitHostPort(addrs.Inbound[in.Name])
	if err != nil {
		return nil, fmt.Errorf("register: inbound address: %w", err)
	}
	inst := api.Instance{Service: r.Service, ID: r.ID, Address: r.Address, Port: r.Port, Labels: r.Labels, Zone: r.Zone, Node: cfg.Node, Admin: addrs.Admin,
		MTLS: s.mesh != nil}
	if inst.Address == "" {
		inst.Address = host
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			return nil, fmt.Errorf("register.address: inbound %s listens on %q; set the address other sidecars should call", in.Name, host)
		}
	}
	if inst.Port == 0 {
		inst.Port, _ = strconv.Atoi(port)
	}
	return &registrar{
		s: s, api: c, inst: inst, probe: r.Probe, app: in.App,
		client: &http.Client{Timeout: r.Probe.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		ttl:    10 * time.Second,
	}, nil
}

// check probes the app once.
func (r *registrar) check(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, r.probe.Timeout)
	defer cancel()
	if r.probe.HTTPPath == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", r.app)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.app+r.probe.HTTPPath, nil)
	if err != nil {
		return false
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

// run registers, then probes every interval and renews at a third of the
// TTL; it deregisters when ctx ends (graceful shutdown), so peers stop
// sending before the listeners drain.
func (r *registrar) run(ctx context.Context) {
	log := r.s.log.With("service", r.inst.Service, "id", r.inst.ID)
	// Registration needs the certificate: wait for the first one.
	if !waitSVID(ctx, &r.s.svid) {
		return
	}
	var lastSent, retryAt time.Time
	var backoff time.Duration
	sent := false
	t := time.NewTicker(r.probe.Interval)
	defer t.Stop()
	for {
		// An mTLS instance is ready once it has a certificate to present.
		ready := r.check(ctx) && (!r.inst.MTLS || r.s.certUsable())
		if ctx.Err() != nil {
			break
		}
		due := !sent || ready != r.inst.Ready || time.Since(lastSent) >= r.ttl/3
		// After a failure, wait out the backoff: while the control plane
		// is down a sidecar must not call it (and log) every probe.
		if due && time.Now().After(retryAt) {
			if sent && ready != r.inst.Ready {
				log.Info("app probe changed", "ready", ready)
			}
			r.inst.Ready = ready
			rctx, cancel := context.WithTimeout(ctx, r.ttl/3)
			l, err := r.api.Register(rctx, api.Registration{Instance: r.inst, Lease: r.lease})
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				backoff = nextRegisterBackoff(backoff, r.probe.Interval)
				retryAt = time.Now().Add(backoff)
				log.Warn("registration failed; retrying", "in", backoff.Round(time.Millisecond), "err", err)
			case err == nil:
				backoff, retryAt = 0, time.Time{}
				if !sent {
					log.Info("registered", "address", r.inst.Address, "port", r.inst.Port, "ready", ready, "lease", l.Lease)
				}
				r.lease, sent, lastSent = l.Lease, true, time.Now()
				if l.TTLSeconds > 0 {
					r.ttl = time.Duration(l.TTLSeconds) * time.Second
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-t.C:
			continue
		}
		break
	}
	if !sent {
		return
	}
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.api.Deregister(dctx, r.inst.Service, r.inst.ID, r.lease); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("deregistration failed; the instance expires with its lease", "err", err)
		return
	}
	log.Info("deregistered")
}

// maxRegisterBackoff caps the wait between registration attempts: a
// control plane back from an outage learns of the instance within it.
const maxRegisterBackoff = 10 * time.Second

// nextRegisterBackoff doubles the wait from the probe interval up to the
// cap, with up to 25 % jitter so sidecars restarted together spread out.
func nextRegisterBackoff(prev, interval time.Duration) time.Duration {
	next := max(2*prev, interval)
	if next > maxRegisterBackoff {
		next = maxRegisterBackoff
	}
	return next + time.Duration(rand.Int64N(int64(next)/4+1))
}
