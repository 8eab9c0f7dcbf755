package client

// Caps on what one push may hold. The transport already bounds a message
// (Config.MaxMessageBytes, 64 MiB by default), but a few bytes of protobuf can expand into far larger Go values (a label
// map per endpoint, a struct per route), so the decoders also cap every
// repeated field and every string they keep. Each cap is well above what
// Weft's translator produces for a large mesh, and a push over one is
// NACKed, never truncated. Strings the decoders skip are not copied, so
// they need no cap.
const (
	// maxResources caps the resources in one DiscoveryResponse. It equals
	// the server's cap on names per subscription, since the sidecar names
	// every cluster in its EDS request.
	maxResources = 10000
	// maxEndpoints caps the endpoints of one cluster, over all localities.
	maxEndpoints = 100000
	// maxLocalities caps the localities of one cluster.
	maxLocalities = 10000
	// maxLabels caps the labels (filter metadata "weft") of one endpoint.
	maxLabels = 128
	// maxVirtualHosts caps the virtual hosts of one route configuration.
	maxVirtualHosts = 10000
	// maxRoutes caps the routes of one route configuration, over all its
	// virtual hosts.
	maxRoutes = 100000
	// maxDomains caps the domains of one virtual host.
	maxDomains = 1000
	// maxMatchers caps the header or query matchers of one route, and the
	// hash policies of one route action.
	maxMatchers = 64
	// maxBackends caps the weighted clusters of one route.
	maxBackends = 1000
	// maxMapEntries caps map fields the decoders walk (protocol options,
	// metadata namespaces).
	maxMapEntries = 256
	// maxName caps names: resources, clusters, domains, header and query
	// names, label keys, zones, addresses, versions, nonces, type URLs.
	maxName = 1024
	// maxValue caps match values and label values.
	maxValue = 4096
	// maxRegex caps a regex, as route.Compile does.
	maxRegex = 1024
)
