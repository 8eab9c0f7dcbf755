package lean

import (
	"fmt"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// outboundRoute names the RouteConfiguration the sidecar uses
// (translate.OutboundRoute, duplicated so translate is not linked).
const outboundRoute = "outbound"

// routesMsg counts what one RouteConfiguration holds, for the caps.
type routesMsg struct {
	routes int
}

// decodeRoutes maps one RouteConfiguration onto the proxy's route config,
// as client.ToProxy does. Fields: RouteConfiguration name 1,
// virtual_hosts 2; VirtualHost name 1, domains 2, routes 3; Route match 1,
// the action oneof (route 2, redirect 3, direct_response 7, filter_action
// 17, non_forwarding_action 18), name 14.
func decodeRoutes(b []byte) (string, route.Config, error) {
	var (
		m    routesMsg
		name string
		rc   route.Config
	)
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			name, err = str(f, "name", maxName)
		case f.is(2, bytesT):
			if len(rc.VirtualHosts) >= maxVirtualHosts {
				return overLimit("virtual_hosts", maxVirtualHosts)
			}
			var vh route.VirtualHost
			if err = m.virtualHost(f.b, &vh); err != nil {
				return fmt.Errorf("virtual_hosts[%d] %q: %w", len(rc.VirtualHosts), vh.Name, err)
			}
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
		return err
	})
	if err != nil {
		return "", route.Config{}, fmt.Errorf("routes %q: %w", name, err)
	}
	return name, rc, nil
}

func (m *routesMsg) virtualHost(b []byte, vh *route.VirtualHost) error {
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			vh.Name, err = str(f, "name", maxName)
		case f.is(2, bytesT):
			if len(vh.Domains) >= maxDomains {
				return overLimit("domains", maxDomains)
			}
			var d string
			if d, err = str(f, "domains", maxName); err == nil && !headerSafe(d) {
				err = invalid("domains", "%q holds NUL, CR or LF", d)
			}
			vh.Domains = append(vh.Domains, d)
		case f.is(3, bytesT):
			if m.routes++; m.routes > maxRoutes {
				return overLimit("routes", maxRoutes)
			}
			var r routeMsg
			var rt route.Route
			if err = r.merge(f.b); err == nil {
				rt, err = r.toProxy()
			}
			if err != nil {
				return fmt.Errorf("routes[%d] %q: %w", len(vh.Routes), r.name, err)
			}
			vh.Routes = append(vh.Routes, rt)
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case !nonEmpty(vh.Name):
		return invalid("name", "must not be empty")
	case len(vh.Domains) == 0:
		return invalid("domains", "at least one is required")
	}
	return nil
}

// Route action members: route 2, redirect 3, direct_response 7,
// filter_action 17, non_forwarding_action 18.
const actionRoute = 2

// routeMsg is a route.v3.Route.
type routeMsg struct {
	name       string
	matchSet   bool
	match      matchMsg
	actionKind int
	action     actionMsg
}

func (r *routeMsg) merge(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch {
		case f.is(14, bytesT):
			r.name, err = str(f, "name", maxName)
		case f.is(1, bytesT):
			r.matchSet = true
			err = r.match.merge(f.b)
		case f.is(actionRoute, bytesT):
			if r.actionKind != actionRoute {
				r.action = actionMsg{}
			}
			r.actionKind = actionRoute
			err = r.action.merge(f.b)
		case f.typ == bytesT && (f.num == 3 || f.num == 7 || f.num == 17 || f.num == 18):
			r.actionKind = int(f.num)
		}
		return err
	})
}

func (r *routeMsg) toProxy() (route.Route, error) {
	out := route.Route{Name: r.name}
	if !r.matchSet {
		return out, invalid("match", "is required")
	}
	if err := r.match.toProxy(&out.Match); err != nil {
		return out, fmt.Errorf("match: %w", err)
	}
	switch r.actionKind {
	case 0:
		return out, invalid("action", "is required")
	case actionRoute:
	default:
		return out, unsupported("action", "only route actions are supported")
	}
	if err := r.action.toProxy(&out); err != nil {
		return out, fmt.Errorf("route: %w", err)
	}
	return out, nil
}
