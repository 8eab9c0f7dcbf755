package telemetry

import "unsafe"

// sameKey reports whether r's labels are those of k, the key of r's last
// series, without building a new key: the common case on a keep-alive
// connection, checked on every request. Only for options that drop no
// label (key zeroes dropped ones). Scalars are normalised as key does.
//
// A connection's records carry strings taken from the same places each
// time (this workload, the cluster's name, the endpoint's labels), so
// the strings are usually the very same ones: sameString tests the data
// pointer first, inline, where == would call into the runtime for each
// of the 19 strings. Equal content at another address still compares
// equal, so the result is exactly k == key(r).
func (k *seriesKey) sameKey(r *Request) bool {
	f, code, grpc := normScalars(r.Flag, r.Code, r.GRPCStatus)
	return k.reporter == r.Reporter && k.proto == r.Protocol && k.code == code && k.grpc == grpc &&
		k.flag == f && k.mtls == r.MTLS &&
		sameWorkload(&k.src, &r.Source) && sameWorkload(&k.dst, &r.Destination) &&
		sameString(k.svc.Host, r.Service.Host) && sameString(k.svc.Name, r.Service.Name) &&
		sameString(k.svc.Namespace, r.Service.Namespace)
}

func sameWorkload(a, b *Workload) bool {
	return sameString(a.Name, b.Name) && sameString(a.Namespace, b.Namespace) &&
		sameString(a.Principal, b.Principal) && sameString(a.App, b.App) &&
		sameString(a.Version, b.Version) && sameString(a.CanonicalService, b.CanonicalService) &&
		sameString(a.CanonicalRevision, b.CanonicalRevision) && sameString(a.Cluster, b.Cluster)
}

// sameString is a == b, deciding without a runtime call when both share
// their bytes (or are empty).
func sameString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b) || a == b
}

// normScalars bounds the scalar labels to their vocabularies, as key
// stores them.
func normScalars(f Flag, code, grpc int) (Flag, int16, int8) {
	if f >= NumFlags {
		f = FlagNone
	}
	if code < 0 || code > 999 {
		code = 0
	}
	if grpc < -1 || grpc > 99 {
		grpc = -1
	}
	return f, int16(code), int8(grpc)
}
