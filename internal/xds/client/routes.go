package client

import (
	"fmt"

	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// outboundRoute names the RouteConfiguration the sidecar uses
// (translate.OutboundRoute, duplicated so translate is not linked).
const outboundRoute = "outbound"

// decodeRoutes maps one RouteConfiguration onto the proxy's route config,
// as xdstest.ToProxy does.
func decodeRoutes(b []byte) (string, route.Config, error) {
	var m envoypb.RouteConfiguration
	if err := unmarshal(b, &m); err != nil {
		return "", route.Config{}, fmt.Errorf("routes: %w", err)
	}
	rc, err := routesToProxy(&m)
	if err != nil {
		return "", route.Config{}, fmt.Errorf("routes %q: %w", m.GetName(), err)
	}
	return m.GetName(), rc, nil
}

func routesToProxy(m *envoypb.RouteConfiguration) (route.Config, error) {
	var rc route.Config
	if err := capped("name", m.GetName(), maxName); err != nil {
		return rc, err
	}
	vhs := m.GetVirtualHosts()
	if len(vhs) > maxVirtualHosts {
		return rc, overLimit("virtual_hosts", maxVirtualHosts)
	}
	routes := 0
	for _, v := range vhs {
		if routes += len(v.GetRoutes()); routes > maxRoutes {
			return rc, overLimit("routes", maxRoutes)
		}
	}
	for i, v := range vhs {
		vh, err := virtualHostToProxy(v)
		if err != nil {
			return rc, fmt.Errorf("virtual_hosts[%d] %q: %w", i, v.GetName(), err)
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	return rc, nil
}

func virtualHostToProxy(v *envoypb.VirtualHost) (route.VirtualHost, error) {
	vh := route.VirtualHost{Name: v.GetName()}
	if err := capped("name", vh.Name, maxName); err != nil {
		return vh, err
	}
	if len(v.GetDomains()) > maxDomains {
		return vh, overLimit("domains", maxDomains)
	}
	for _, d := range v.GetDomains() {
		if err := capped("domains", d, maxName); err != nil {
			return vh, err
		}
		if !headerSafe(d) {
			return vh, invalid("domains", "%q holds NUL, CR or LF", d)
		}
		vh.Domains = append(vh.Domains, d)
	}
	if m := v.GetTypedPerFilterConfig(); len(m) > 0 {
		_, rl, err := perFilterToProxy(m, false)
		if err != nil {
			return vh, err
		}
		vh.RateLimit = rl
	}
	for i, r := range v.GetRoutes() {
		rt, err := routeToProxy(r)
		if err != nil {
			return vh, fmt.Errorf("routes[%d] %q: %w", i, r.GetName(), err)
		}
		vh.Routes = append(vh.Routes, rt)
	}
	switch {
	case !nonEmpty(vh.Name):
		return vh, invalid("name", "must not be empty")
	case len(vh.Domains) == 0:
		return vh, invalid("domains", "at least one is required")
	}
	return vh, nil
}

// routeToProxy maps a route whose action forwards to clusters or
// redirects. Filter actions and direct responses are refused: the proxy's
// route table has no rule for them.
func routeToProxy(r *envoypb.Route) (route.Route, error) {
	out := route.Route{Name: r.GetName()}
	if err := capped("name", out.Name, maxName); err != nil {
		return out, err
	}
	if r.GetMatch() == nil {
		return out, invalid("match", "is required")
	}
	if err := matchToProxy(r.GetMatch(), &out.Match); err != nil {
		return out, fmt.Errorf("match: %w", err)
	}
	if m := r.GetTypedPerFilterConfig(); len(m) > 0 {
		f, rl, err := perFilterToProxy(m, true)
		if err != nil {
			return out, err
		}
		out.Fault, out.RateLimit = f, rl
	}
	var err error
	if out.RequestHeaders, err = headerModsToProxy("request", r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove()); err != nil {
		return out, err
	}
	if out.ResponseHeaders, err = headerModsToProxy("response", r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove()); err != nil {
		return out, err
	}
	switch a := r.GetAction().(type) {
	case nil:
		return out, invalid("action", "is required")
	case *envoypb.Route_Route:
		if err := actionToProxy(a.Route, &out); err != nil {
			return out, fmt.Errorf("route: %w", err)
		}
		return out, nil
	case *envoypb.Route_Redirect:
		if err := redirectToProxy(a.Redirect, &out); err != nil {
			return out, fmt.Errorf("redirect: %w", err)
		}
		return out, nil
	case *envoypb.Route_DirectResponse:
		if s := a.DirectResponse.GetStatus(); s < 200 || s >= 600 {
			return out, invalid("direct_response.status", "%d is not in 200..599", s)
		}
		return out, unsupported("direct_response", "fixed responses without an upstream")
	}
	return out, unsupported("action", "only route actions are supported")
}
