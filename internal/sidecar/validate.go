package sidecar

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FieldError is one invalid field: its path in the config and the reason.
type FieldError struct {
	Path   string
	Reason string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Reason }

type fieldErrors []error

func (fe *fieldErrors) add(path, format string, args ...any) {
	*fe = append(*fe, &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// SetDefaults fills zero values with the documented defaults.
func (c *Config) SetDefaults() {
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.Admin == "" {
		c.Admin = "127.0.0.1:15000"
	}
	for i := range c.Inbound {
		in := &c.Inbound[i]
		if in.Name == "" {
			in.Name = "inbound-" + strconv.Itoa(i)
		}
		if in.Protocol == "" {
			in.Protocol = "auto"
		}
	}
	if u := c.Upstream; u != nil && u.Protocol == "" {
		u.Protocol = "http"
	}
	if r := c.Register; r != nil {
		if r.Service == "" {
			r.Service = c.Service
		}
		if r.ID == "" {
			r.ID = c.Node
		}
		c.setLocalityDefaults()
		setDur(&r.Probe.Interval, time.Second)
		setDur(&r.Probe.Timeout, time.Second)
	}
	l := &c.Limits
	setInt(&l.MaxConnections, 10000)
	setInt(&l.MaxHeaderBytes, 32<<10)
	setInt(&l.MaxHeaders, 100)
	setDur(&l.HeaderTimeout, 10*time.Second)
	setDur(&l.IdleTimeout, 60*time.Second)
	setDur(&l.RequestTimeout, 15*time.Second)
	setDur(&l.SniffTimeout, 200*time.Millisecond)
	setDur(&l.DrainTimeout, 20*time.Second)
	if c.Register != nil {
		setDur(&l.DrainDelay, 3*time.Second)
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// Validate reports every invalid field at once, each with its path.
func (c *Config) Validate() error {
	var fe fieldErrors
	if c.Admin != "off" {
		checkAddr(&fe, "admin", c.Admin)
	}
	c.Metrics.validate(&fe)
	listens := map[string]string{}
	claim := func(path, addr string) {
		if _, port, _ := net.SplitHostPort(addr); port == "0" {
			return // an ephemeral port never clashes
		}
		if prev, ok := listens[addr]; ok {
			fe.add(path, "address %s is already used by %s", addr, prev)
			return
		}
		listens[addr] = path
	}
	if c.Admin != "off" {
		claim("admin", c.Admin)
	}
	inNames := map[string]bool{}
	for i, in := range c.Inbound {
		p := fmt.Sprintf("inbound[%d]", i)
		if inNames[in.Name] {
			fe.add(p+".name", "duplicate inbound name %q", in.Name)
		}
		inNames[in.Name] = true
		if checkAddr(&fe, p+".listen", in.Listen) {
			claim(p+".listen", in.Listen)
		}
		checkAddr(&fe, p+".app", in.App)
		switch in.Protocol {
		case "auto", "http", "http2", "tcp":
		default:
			fe.add(p+".protocol", "must be one of auto, http, http2, tcp; got %q", in.Protocol)
		}
		switch {
		case in.MTLS != "" && in.MTLS != MTLSStrict && in.MTLS != MTLSPermissive:
			fe.add(p+".mtls", "must be STRICT or PERMISSIVE; got %q", in.MTLS)
		case in.MTLS != "" && c.Identity == nil:
			fe.add(p+".mtls", "needs identity (a workload certificate to terminate mTLS with); without it the port is plaintext")
		}
		if in.ServerFirst && in.Protocol != "auto" {
			fe.add(p+".serverFirst", "only applies to protocol auto (protocol tcp forwards every connection); got protocol %q", in.Protocol)
		}
	}
	if c.Outbound.Proxy != "" && checkAddr(&fe, "outbound.proxy", c.Outbound.Proxy) {
		claim("outbound.proxy", c.Outbound.Proxy)
	}
	for i, op := range c.Outbound.Ports {
		p := fmt.Sprintf("outbound.ports[%d]", i)
		if checkAddr(&fe, p+".listen", op.Listen) {
			claim(p+".listen", op.Listen)
		}
		if !validServiceRef(op.Service) {
			fe.add(p+".service", "must be SERVICE or SERVICE.NAMESPACE in lowercase DNS labels; got %q", op.Service)
		}
	}
	if cp := c.Outbound.Capture; cp != nil {
		if checkAddr(&fe, "outbound.capture.listen", cp.Listen) {
			claim("outbound.capture.listen", cp.Listen)
		}
		if c.ControlPlane == nil {
			fe.add("outbound.capture", "needs controlPlane: the mesh services it gives virtual IPs come from it")
		}
	}
	validateUpstream(&fe, c)
	validateLocality(&fe, c)
	validateControlPlane(&fe, c)
	validateIdentity(&fe, c)
	validateTelemetry(&fe, c)
	validateLimits(&fe, &c.Limits)
	return errors.Join(fe...)
}

func validateUpstream(fe *fieldErrors, c *Config) {
	u := c.Upstream
	if u == nil {
		return
	}
	if c.ControlPlane != nil {
		fe.add("upstream", "quick mode excludes controlPlane: services come from one or the other")
	}
	checkAddr(fe, "upstream.address", u.Address)
	switch u.Protocol {
	case "http", "http2", "tcp":
	default:
		fe.add("upstream.protocol", "must be one of http, http2, tcp; got %q", u.Protocol)
	}
}

func validateLimits(fe *fieldErrors, l *Limits) {
	pos := func(name string, v int64) {
		if v <= 0 {
			fe.add("limits."+name, "must be > 0")
		}
	}
	pos("maxConnections", int64(l.MaxConnections))
	pos("maxHeaderBytes", int64(l.MaxHeaderBytes))
	pos("maxHeaders", int64(l.MaxHeaders))
	pos("headerTimeout", int64(l.HeaderTimeout))
	pos("idleTimeout", int64(l.IdleTimeout))
	pos("requestTimeout", int64(l.RequestTimeout))
	pos("sniffTimeout", int64(l.SniffTimeout))
	pos("drainTimeout", int64(l.DrainTimeout))
	if l.DrainDelay < 0 || l.DrainDelay > 5*time.Minute {
		fe.add("limits.drainDelay", "must be 0..5m; got %s", l.DrainDelay)
	}
	if l.MaxHeaderBytes > 1<<20 {
		fe.add("limits.maxHeaderBytes", "must be <= 1048576")
	}
}

// checkAddr reports whether addr is a valid host:port, adding an error if not.
func checkAddr(fe *fieldErrors, path, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fe.add(path, "must be host:port; got %q", addr)
		return false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		fe.add(path, "port must be 0..65535; got %q", port)
		return false
	}
	_ = host
	return true
}

func validateControlPlane(fe *fieldErrors, c *Config) {
	if c.ControlPlane == nil {
		if c.Register != nil {
			fe.add("register", "needs controlPlane: registration goes through the control plane")
		}
		return
	}
	cp := c.ControlPlane
	if len(cp.XDS) == 0 {
		fe.add("controlPlane.xds", "must list at least one address")
	}
	for i, a := range cp.XDS {
		checkAddr(fe, fmt.Sprintf("controlPlane.xds[%d]", i), a)
	}
	for i, a := range cp.API {
		checkAddr(fe, fmt.Sprintf("controlPlane.api[%d]", i), a)
	}
	if len(cp.API) > 0 && c.Identity == nil {
		fe.add("identity", "required with controlPlane.api: weft control serves TLS and admits a sidecar by its workload certificate (set identity.tokenFile to a join token from weft token create)")
	}
	if cp.CAFile != "" && c.Identity == nil {
		fe.add("controlPlane.caFile", "needs identity: without it the sidecar speaks plaintext to an in-process control plane")
	}
	for i, svc := range cp.Services {
		if !validServiceRef(svc) {
			fe.add(fmt.Sprintf("controlPlane.services[%d]", i), "must be SERVICE or SERVICE.NAMESPACE in lowercase DNS labels; got %q", svc)
		}
	}
	r := c.Register
	if r == nil {
		return
	}
	if len(cp.API) == 0 {
		fe.add("controlPlane.api", "must list at least one address when register is set")
	}
	if len(c.Inbound) == 0 {
		fe.add("register", "needs an inbound listener: it is what other sidecars call")
	}
	if r.Service == "" {
		fe.add("register.service", "must be set (or set service)")
	} else if !nameRE.MatchString(r.Service) {
		fe.add("register.service", "must be a lowercase DNS name; got %q", r.Service)
	}
	if r.Address != "" && net.ParseIP(r.Address) == nil {
		fe.add("register.address", "must be an IP address; got %q", r.Address)
	}
	if r.Port < 0 || r.Port > 65535 {
		fe.add("register.port", "must be 0..65535; got %d", r.Port)
	}
	if r.Probe.HTTPPath != "" && !strings.HasPrefix(r.Probe.HTTPPath, "/") {
		fe.add("register.probe.httpPath", "must start with /; got %q", r.Probe.HTTPPath)
	}
}

// validServiceRef reports whether svc is SERVICE or SERVICE.NAMESPACE,
// each a lowercase DNS label: how a sidecar names a mesh service.
func validServiceRef(svc string) bool {
	name, ns, _ := strings.Cut(svc, ".")
	return nameRE.MatchString(name) && (ns == "" || nameRE.MatchString(ns))
}
