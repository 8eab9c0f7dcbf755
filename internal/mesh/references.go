package mesh

import (
	"fmt"
	"sort"
)

// Problem is a cross-resource issue: a dangling reference or a conflict.
type Problem struct {
	Resource string // Key of the resource at fault
	Path     string
	Reason   string
	// Conflict marks a route shadowing another, as opposed to a dangling
	// reference: the first is refused at apply, the second only reported.
	Conflict bool
	// With is the resource a conflict is with.
	With string
	// Cause is the status reason in Gateway API's words: BackendNotFound
	// for a backendRef to a missing Service or subset, NoMatchingParent
	// for a parentRef, TargetNotFound for a policy's target, Shadowed for
	// a conflict.
	Cause string
}

func (p Problem) String() string { return p.Resource + ": " + p.Path + ": " + p.Reason }

// CheckReferences finds what single-resource validation cannot: backends
// and targets naming unknown Services or subsets, and HTTPRoutes that claim
// the same parent, hostname and match, which would otherwise shadow one
// another silently. Resources must be defaulted first.
func CheckReferences(all []Resource) []Problem {
	svcs := map[string]*Service{}
	for _, r := range all {
		if s, ok := r.(*Service); ok {
			svcs[s.Metadata.Namespace+"/"+s.Metadata.Name] = s
		}
	}
	var out []Problem
	claims := map[string]string{}
	routes := sortedRoutes(all)
	for _, rt := range routes {
		ns, key := rt.Metadata.Namespace, Key(rt)
		for i, p := range rt.Spec.ParentRefs {
			if svcs[ns+"/"+p.Name] == nil {
				out = append(out, Problem{Resource: key, Path: field("spec.parentRefs", i) + ".name", Reason: fmt.Sprintf("unknown Service %q", p.Name), Cause: "NoMatchingParent"})
			}
		}
		for i, rule := range rt.Spec.Rules {
			rp := field("spec.rules", i)
			for j, b := range rule.BackendRefs {
				bp := field(rp+".backendRefs", j)
				s := svcs[ns+"/"+b.Name]
				switch {
				case s == nil:
					out = append(out, Problem{Resource: key, Path: bp + ".name", Reason: fmt.Sprintf("unknown Service %q", b.Name), Cause: "BackendNotFound"})
				case b.Subset != "" && !s.HasSubset(b.Subset):
					out = append(out, Problem{Resource: key, Path: bp + ".subset", Reason: fmt.Sprintf("Service %q has no subset %q", b.Name, b.Subset), Cause: "BackendNotFound"})
				}
			}
			for j, f := range rule.Filters {
				m := f.RequestMirror
				if m == nil {
					continue
				}
				bp := field(rp+".filters", j) + ".requestMirror.backendRef"
				s := svcs[ns+"/"+m.BackendRef.Name]
				switch {
				case s == nil:
					out = append(out, Problem{Resource: key, Path: bp + ".name", Reason: fmt.Sprintf("unknown Service %q (nothing is mirrored)", m.BackendRef.Name), Cause: "BackendNotFound"})
				case m.BackendRef.Subset != "" && !s.HasSubset(m.BackendRef.Subset):
					out = append(out, Problem{Resource: key, Path: bp + ".subset", Reason: fmt.Sprintf("Service %q has no subset %q (nothing is mirrored)", m.BackendRef.Name, m.BackendRef.Subset), Cause: "BackendNotFound"})
				}
			}
			for _, claim := range ruleClaims(rt, &rule) {
				if prev, taken := claims[claim]; taken && prev != key {
					out = append(out, Problem{Resource: key, Path: rp, Reason: fmt.Sprintf("conflicts with %s: same parent, hostname and match", prev), Conflict: true, With: prev, Cause: "Shadowed"})
				} else if !taken {
					claims[claim] = key
				}
			}
		}
	}
	for _, r := range all {
		if p, ok := r.(*TrafficPolicy); ok && svcs[p.Metadata.Namespace+"/"+p.Spec.TargetRef.Name] == nil {
			out = append(out, Problem{Resource: Key(p), Path: "spec.targetRef.name", Reason: fmt.Sprintf("unknown Service %q", p.Spec.TargetRef.Name), Cause: "TargetNotFound"})
		}
	}
	return out
}

// sortedRoutes orders routes oldest name first, so the same route always
// wins a conflict and the other is the one reported.
func sortedRoutes(all []Resource) []*HTTPRoute {
	var rs []*HTTPRoute
	for _, r := range all {
		if rt, ok := r.(*HTTPRoute); ok {
			rs = append(rs, rt)
		}
	}
	sort.Slice(rs, func(a, b int) bool { return Key(rs[a]) < Key(rs[b]) })
	return rs
}

// ruleClaims renders each (parent, hostname, match) a rule claims.
func ruleClaims(rt *HTTPRoute, rule *HTTPRouteRule) []string {
	hosts := rt.Spec.Hostnames
	if len(hosts) == 0 {
		hosts = []string{"*"}
	}
	var out []string
	for _, p := range rt.Spec.ParentRefs {
		for _, h := range hosts {
			for _, m := range rule.Matches {
				out = append(out, fmt.Sprintf("%s/%s:%d|%s|%+v|%s|%+v|%+v", rt.Metadata.Namespace, p.Name, p.Port, h, *m.Path, m.Method, m.Headers, m.QueryParams))
			}
		}
	}
	return out
}
