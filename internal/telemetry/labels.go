package telemetry

import "time"

// Reporter says which side of a call recorded it, as Istio's reporter
// label does: the caller's sidecar (outbound) reports "source", the
// callee's (inbound) "destination". Every call is seen twice; queries
// pick one reporter so as not to count it twice.
type Reporter uint8

// The reporters.
const (
	ReporterSource Reporter = iota
	ReporterDestination
)

func (r Reporter) String() string {
	if r == ReporterDestination {
		return "destination"
	}
	return "source"
}

// Protocol is the request_protocol label: http (HTTP/1.1 and HTTP/2),
// grpc, or tcp.
type Protocol uint8

// The protocols.
const (
	ProtocolHTTP Protocol = iota
	ProtocolGRPC
	ProtocolTCP
)

func (p Protocol) String() string {
	switch p {
	case ProtocolGRPC:
		return "grpc"
	case ProtocolTCP:
		return "tcp"
	}
	return "http"
}

// Unknown is the value of a label the reporter cannot know, as Istio
// writes it.
const Unknown = "unknown"

// Workload is one side of a call, labelled as Istio labels it. Empty
// fields are exposed as "unknown".
type Workload struct {
	// Name is the workload (Istio: the Deployment); Weft: the service
	// whose instances run the code, or an instance label "workload".
	Name string
	// Namespace is the workload's namespace.
	Namespace string
	// Principal is the workload's SPIFFE ID, when mTLS proves it.
	Principal string
	// App and Version are the instance's "app" and "version" labels.
	App, Version string
	// CanonicalService and CanonicalRevision are what Kiali groups by:
	// the app (else the workload name) and the version (else "latest").
	CanonicalService, CanonicalRevision string
	// Cluster names the cluster the workload runs in.
	Cluster string
}

// Canonicalize fills CanonicalService and CanonicalRevision as Istio
// defaults them: the app label else the workload name, the version label
// else "latest".
func (w *Workload) Canonicalize() {
	if w.CanonicalService == "" {
		w.CanonicalService = w.App
		if w.CanonicalService == "" {
			w.CanonicalService = w.Name
		}
	}
	if w.CanonicalRevision == "" {
		w.CanonicalRevision = w.Version
		if w.CanonicalRevision == "" {
			w.CanonicalRevision = "latest"
		}
	}
}

// Service is the destination service of a call: its host
// (destination_service), its short name and its namespace.
type Service struct {
	Host, Name, Namespace string
}

// Request is one finished HTTP or gRPC request, as the engines report it.
// The engines keep one per connection and fill it in place, so recording
// allocates nothing.
type Request struct {
	Reporter    Reporter
	Source      Workload
	Destination Workload
	Service     Service
	Protocol    Protocol
	// Code is the HTTP status sent downstream; 0 when none was.
	Code int
	// GRPCStatus is the gRPC status code; -1 when the call is not gRPC or
	// ended without one.
	GRPCStatus int
	// Flag is why the mesh made or ended the response; FlagNone when the
	// upstream answered.
	Flag Flag
	// MTLS is true when the inbound connection was mutual TLS (reported
	// as connection_security_policy="mutual_tls" by the destination).
	MTLS     bool
	Duration time.Duration
	// RequestBytes and ResponseBytes are the body sizes.
	RequestBytes, ResponseBytes int64

	// last is the series this record was last counted in: a connection's
	// next request usually has the same labels, and comparing them costs
	// less than hashing them for the map.
	last lastSeries
}

type lastSeries struct {
	m   *istioMetrics
	key seriesKey
	s   *reqSeries
}

// Conn is one finished or progressing TCP connection, for the TCP
// metrics; Protocol and codes do not apply.
type Conn struct {
	Reporter    Reporter
	Source      Workload
	Destination Workload
	Service     Service
	Flag        Flag
	MTLS        bool
}

// label indexes, in Istio's order. requestLabels and tcpLabels list which
// apply to each metric family.
const (
	lReporter = iota
	lSrcWorkload
	lSrcCanonicalService
	lSrcCanonicalRevision
	lSrcNamespace
	lSrcPrincipal
	lSrcApp
	lSrcVersion
	lSrcCluster
	lDstWorkload
	lDstNamespace
	lDstPrincipal
	lDstApp
	lDstVersion
	lDstService
	lDstCanonicalService
	lDstCanonicalRevision
	lDstServiceName
	lDstServiceNamespace
	lDstCluster
	lProtocol
	lResponseCode
	lGRPCStatus
	lResponseFlags
	lSecurityPolicy
	numLabels
)

// LabelNames are Istio's standard metric labels, in Istio's order.
var LabelNames = [numLabels]string{
	"reporter",
	"source_workload", "source_canonical_service", "source_canonical_revision",
	"source_workload_namespace", "source_principal", "source_app", "source_version", "source_cluster",
	"destination_workload", "destination_workload_namespace", "destination_principal",
	"destination_app", "destination_version", "destination_service",
	"destination_canonical_service", "destination_canonical_revision",
	"destination_service_name", "destination_service_namespace", "destination_cluster",
	"request_protocol", "response_code", "grpc_response_status", "response_flags",
	"connection_security_policy",
}

// labelIndex finds a label by name; -1 when it is not one.
func labelIndex(name string) int {
	for i, n := range LabelNames {
		if n == name {
			return i
		}
	}
	return -1
}
