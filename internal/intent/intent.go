package intent

import (
	"net/netip"
	"time"

	"github.com/sr6net/sr6/internal/dataplane"
)

// MinPeriod is the shortest color period: below it the guard time left for
// packets in flight and clock skew gets too thin.
const MinPeriod = time.Second

// State is one node's desired state. The controller builds it and never
// changes a State once built (readers share it without copying); the agent
// gets it through FromProto.
type State struct {
	// The kernel part: steering routes, local SIDs, underlay routes.
	dataplane.State
	// PM is what the node measures; nil measures nothing.
	PM *PM
	// Generation increases with every change the controller makes; the
	// agent reports the last one it applied.
	Generation uint64
}

// PM is a node's performance-monitoring configuration: alternate marking
// (RFC 9341) of segment lists and STAMP delay probes.
type PM struct {
	// Period is the color period, aligned to multiples since the Unix
	// epoch; at least MinPeriod when Lists is not empty.
	Period time.Duration
	// MarkMask is the one bit of the first IPv6 header word (Traffic Class
	// or Flow Label) carrying the color.
	MarkMask uint32
	Lists    []List
	// Probe is the node's STAMP reflector address; the zero Addr runs no
	// reflector.
	Probe netip.Addr
	// Delays are the STAMP sessions this node sends, as a policy's headend.
	Delays []Delay
	// ClocksSynced: the nodes' clocks agree (a lab's namespaces share one
	// kernel clock), so STAMP reports one-way delays.
	ClocksSynced bool
}

// List is one segment list to measure on the node: as headend (color and
// count on egress) or as tail (count on ingress).
type List struct {
	Session, Policy string
	Segments        []netip.Addr // path order, as the headend installs them
	Headend         bool         // false: tail
}

// Delay is one STAMP session the node sends.
type Delay struct {
	Session, Policy string
	Target          netip.Addr    // the tail's probe address, steered along the policy
	Interval        time.Duration // between probes
}
