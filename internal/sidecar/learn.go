package sidecar

import (
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/proxy"
	xdsclient "github.com/weft-mesh/weft/internal/xds/client"
)

// A sidecar that declared its services (controlPlane.services) also learns
// the ones its app calls beyond them: the first request to an unknown host
// asks the control plane for that service and waits for its config, so
// nobody has to keep the list complete by hand.
const (
	// learnWait bounds how long a request for an unknown host waits for
	// the control plane's answer before it gets 404.
	learnWait = 2 * time.Second
	// maxLearned caps the services a sidecar adds this way, so an app (or
	// an attacker behind it) requesting random hosts cannot grow the
	// sidecar's config or make it reconnect without end.
	maxLearned = 256
)

type learner struct {
	mu      sync.Mutex
	client  *xdsclient.Client
	wanted  map[string]time.Time // service key -> when it was asked for (zero: declared)
	changed chan struct{}        // closed when a new control-plane config is applied
	added   int
}

func newLearner(declared []string) *learner {
	l := &learner{wanted: map[string]time.Time{}, changed: make(chan struct{})}
	for _, d := range declared {
		l.wanted[d] = time.Time{}
	}
	return l
}

// applied wakes requests waiting for a learned service.
func (l *learner) applied() {
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// serviceKey maps a request's host to the service name the control plane
// knows: "catalog" and "catalog.default[.svc...]" are catalog in the
// default namespace, "catalog.shop" is catalog in shop.
func serviceKey(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || net.ParseIP(host) != nil {
		return "", false
	}
	labels := strings.Split(host, ".")
	name, ns := labels[0], "default"
	if len(labels) > 1 {
		ns = labels[1]
	}
	if !nameRE.MatchString(name) || !nameRE.MatchString(ns) || strings.Contains(name+ns, ".") {
		return "", false
	}
	if ns == "default" {
		return name, true
	}
	return name + "." + ns, true
}

// servesHost reports whether d routes host.
func servesHost(d *dynamic, host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for _, vh := range d.Routes.VirtualHosts {
		for _, dom := range vh.Domains {
			if dom == host {
				return true
			}
		}
	}
	return false
}

// onMiss is the proxy's OnMiss hook.
func (s *Sidecar) onMiss(hostBytes []byte) *proxy.State {
	l := s.learn
	if l == nil {
		return nil
	}
	host := string(hostBytes)
	key, ok := serviceKey(host)
	if !ok {
		return nil
	}
	l.mu.Lock()
	asked, known := l.wanted[key]
	switch {
	case l.client == nil:
		l.mu.Unlock()
		return nil
	case known && (asked.IsZero() || time.Since(asked) > learnWait):
		// declared, or asked for before and still unknown: a real 404
		l.mu.Unlock()
		return nil
	case !known && l.added >= maxLearned:
		l.mu.Unlock()
		s.log.Warn("not learning more services from traffic", "host", host, "cap", maxLearned)
		return nil
	}
	if !known {
		l.wanted[key] = time.Now()
		l.added++
		list := make([]string, 0, len(l.wanted))
		for k := range l.wanted {
			list = append(list, k)
		}
		sort.Strings(list)
		s.log.Info("learning a service from traffic", "service", key)
		l.client.Want(list)
	}
	ch := l.changed
	l.mu.Unlock()
	deadline := time.NewTimer(learnWait)
	defer deadline.Stop()
	for {
		if d := s.dyn.Load(); d != nil && servesHost(d, host) {
			return s.outbound.Load()
		}
		select {
		case <-ch:
		case <-deadline.C:
			return nil
		}
		l.mu.Lock()
		ch = l.changed
		l.mu.Unlock()
	}
}
