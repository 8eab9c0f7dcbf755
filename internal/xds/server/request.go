package server

import (
	"errors"
	"slices"
	"unicode/utf8"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Every ACK repeats the names a proxy subscribes to: a sidecar's EDS ACK
// lists all its clusters. Decoded the ordinary way, that is one string
// allocation and one UTF-8 check per name per proxy per push, which at
// 10,000 proxies was about a sixth of the server's CPU per push. The names
// are almost always ones the server itself sent, so decodeRequest resolves
// them against the config's own names instead: no allocation, no check
// (those strings are valid), and when a request names exactly the sorted
// names of a type, as it usually does, not even a slice of its own.

// nameRef locates a name in one type's sorted names.
type nameRef struct {
	list []string
	i    int
}

// internNames indexes the names of every type; a name in two types (CDS
// and EDS share cluster names) refers to the later one, EDS being last so
// that its long list is the one requests match whole.
func internNames(r *Resources) map[string]nameRef {
	m := map[string]nameRef{}
	for _, t := range [...]int{sds, cds, lds, rds, eds} {
		for i, n := range r.types[t].names {
			m[n] = nameRef{r.types[t].names, i}
		}
	}
	return m
}

var resourceNamesField = (&discoveryv3.DiscoveryRequest{}).ProtoReflect().Descriptor().Fields().ByName("resource_names").Number()

var errInvalidUTF8 = errors.New("xds: resource_names: invalid UTF-8")

// decodeRequest is proto.Unmarshal(b, r) for a fresh r, with its resource
// names taken from intern where they match. Every other field goes to
// proto.Unmarshal, in runs between the names: merging the runs in order is
// exactly what one Unmarshal of the whole does.
func decodeRequest(b []byte, r *discoveryv3.DiscoveryRequest, intern map[string]nameRef) error {
	proto.Reset(r)
	merge := proto.UnmarshalOptions{Merge: true}
	var names nameList
	run := 0 // start of the pending run of other fields
	for i := 0; i < len(b); {
		num, typ, n := protowire.ConsumeTag(b[i:])
		if n < 0 {
			return proto.Unmarshal(b, r) // malformed: let proto report it
		}
		if num != resourceNamesField || typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b[i+n:])
			if m < 0 {
				return proto.Unmarshal(b, r)
			}
			i += n + m
			continue
		}
		v, m := protowire.ConsumeBytes(b[i+n:])
		if m < 0 {
			return proto.Unmarshal(b, r)
		}
		if run < i {
			if err := merge.Unmarshal(b[run:i], r); err != nil {
				return err
			}
		}
		if err := names.add(v, intern); err != nil {
			return err
		}
		i += n + m
		run = i
	}
	if run < len(b) {
		if err := merge.Unmarshal(b[run:], r); err != nil {
			return err
		}
	}
	r.ResourceNames = names.result()
	return nil
}

// nameList collects names, sharing a type's sorted list for as long as the
// names seen are a prefix of it.
type nameList struct {
	shared []string // the names so far are shared[:n], unless own is set
	n      int
	own    []string
	split  bool
}

func (l *nameList) add(v []byte, intern map[string]nameRef) error {
	ref, known := intern[string(v)] // no allocation: the compiler looks up by the bytes
	if !l.split {
		switch {
		case known && l.n == 0 && ref.i == 0:
			l.shared, l.n = ref.list, 1
			return nil
		case known && l.n > 0 && ref.i == l.n && l.n < len(l.shared) && &ref.list[0] == &l.shared[0]:
			l.n++
			return nil
		}
		l.split = true
		l.own = slices.Clone(l.shared[:l.n])
	}
	if known {
		l.own = append(l.own, ref.list[ref.i])
		return nil
	}
	if !utf8.Valid(v) {
		return errInvalidUTF8
	}
	l.own = append(l.own, string(v))
	return nil
}

func (l *nameList) result() []string {
	if l.split {
		return l.own
	}
	if l.n == 0 {
		return nil
	}
	// Capped: appending to a request's names must never write into the
	// config's list.
	return l.shared[:l.n:l.n]
}
