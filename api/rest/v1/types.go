package restv1

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// NamePattern is the one rule for the names of policies and sessions:
// they appear in URL paths, store keys and kernel route annotations, so
// they stay within a small, unambiguous alphabet, and start with a letter
// or digit: "." and ".." would be cleaned out of a URL path, leaving a
// policy nobody can address.
const NamePattern = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`

var nameRE = regexp.MustCompile(NamePattern)

// CheckName tells why name breaks NamePattern, or nil.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%q: 1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit", name)
	}
	return nil
}

// Mode is how a headend steers IPv6 traffic into a segment list.
type Mode string

const (
	// ModeEncap is H.Encaps: a new outer IPv6 header with an SRH (the default).
	ModeEncap Mode = "encap"
	// ModeInline is H.Insert: an SRH inserted into the packet itself.
	ModeInline Mode = "inline"
)

// Modes are the allowed values of Policy.Mode.
var Modes = []string{string(ModeEncap), string(ModeInline)}

// ParseMode reads a mode; "" is the default, ModeEncap.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "":
		return ModeEncap, nil
	case ModeEncap, ModeInline:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown mode %q; allowed values: %s", s, strings.Join(Modes, ", "))
}

// Metrics are the allowed values of Policy.Metric.
var Metrics = []string{"igp", "hops", "latency"}

// Policy is an SRv6 policy as the API takes it. Traffic to Prefixes is
// steered at Headend into a segment list that ends at Endpoint, where it
// is decapsulated. From/To name hosts instead: their routers become
// headend and endpoint, To's subnets the prefixes.
type Policy struct {
	Name         string   `json:"name"`
	From         string   `json:"from,omitempty"`
	To           string   `json:"to,omitempty"`
	Headend      string   `json:"headend,omitempty"`
	Endpoint     string   `json:"endpoint,omitempty"`
	Prefixes     []string `json:"prefixes,omitempty"`
	Mode         Mode     `json:"mode,omitempty"`   // encap (default) | inline
	Metric       string   `json:"metric,omitempty"` // igp (default) | hops | latency
	Include      []string `json:"include,omitempty"`
	ExcludeNodes []string `json:"exclude_nodes,omitempty"`
	ExcludeLinks []string `json:"exclude_links,omitempty"` // "node:interface", either end
	DisjointFrom string   `json:"disjoint_from,omitempty"`
	Segments     []string `json:"segments,omitempty"` // explicit path: router names or SIDs (End, End.X) in order
	PerHop       bool     `json:"per_hop,omitempty"`  // one SID per hop instead of the fewest
}

// PolicyFields are the JSON fields of Policy, the allowed values named by
// an unknown-field error.
var PolicyFields = []string{"name", "from", "to", "headend", "endpoint", "prefixes", "mode", "metric", "include",
	"exclude_nodes", "exclude_links", "disjoint_from", "segments", "per_hop"}

// Policy states. A computed policy is pending until its headend's agent
// reports its routes installed; the controller's own verdicts (no path,
// invalid, prefix held by another policy) are down.
const (
	StatePending = "pending" // computed; its headend's agent has not confirmed it (or is unreachable)
	StateUp      = "up"      // its headend's agent reports every steering route installed
	StateFailed  = "failed"  // its headend's kernel refused a steering route (the reason has the error)
	StateDown    = "down"    // not steered: no path, invalid, or its prefix is steered by another policy
)

// States are the allowed values of Status.State.
var States = []string{StatePending, StateUp, StateFailed, StateDown}

// Status is what the controller made of a policy.
type Status struct {
	State    string    `json:"state"` // one of States
	Reason   string    `json:"reason,omitempty"`
	Path     []string  `json:"path,omitempty"`
	Segments []string  `json:"segments,omitempty"` // SIDs in path order, as installed for IPv6
	Cost     uint64    `json:"cost,omitempty"`
	Updated  time.Time `json:"updated"`
}

// PolicyView is a policy with its status.
type PolicyView struct {
	Policy
	Status Status `json:"status"`
}

// Topology is the planned network with live link states.
type Topology struct {
	Name    string `json:"name"`
	Routing string `json:"routing"`
	Nodes   []Node `json:"nodes"`
	Links   []Link `json:"links"`
}

// Node is one node of the topology; routers carry their addresses and SIDs.
type Node struct {
	Name       string        `json:"name"`
	Kind       string        `json:"kind"`
	ID         int           `json:"id,omitempty"`
	Loopback   *netip.Addr   `json:"loopback,omitempty"`
	Locator    *netip.Prefix `json:"locator,omitempty"`
	SIDs       *SIDs         `json:"sids,omitempty"`
	Interfaces []Interface   `json:"interfaces"`
}

// SIDs are a router's service SIDs.
type SIDs struct {
	End netip.Addr `json:"end"` // End: transit waypoint
	DX4 netip.Addr `json:"dx4"` // End.DX4: decapsulate, route inner IPv4
	DT6 netip.Addr `json:"dt6"` // End.DT6: decapsulate, route inner IPv6
}

// Interface is one interface of a node.
type Interface struct {
	Name  string        `json:"name"`
	Peer  string        `json:"peer"` // node:interface at the other end
	Addr4 *netip.Prefix `json:"ipv4,omitempty"`
	Addr6 *netip.Prefix `json:"ipv6,omitempty"`
	Adj   *netip.Addr   `json:"adj_sid,omitempty"`
}

// Link is one link with its live state.
type Link struct {
	Endpoints [2]string     `json:"endpoints"` // node:interface of each end
	Metric    int           `json:"metric"`
	Latency   uint32        `json:"latency_us,omitempty"`
	Loss      float64       `json:"loss_percent,omitempty"`
	Rate      uint64        `json:"rate_bps,omitempty"`
	Subnet4   *netip.Prefix `json:"subnet4,omitempty"`
	Subnet6   netip.Prefix  `json:"subnet6"`
	Up        bool          `json:"up"`
}

// Session measures the loss (and with Delay, the delay) of one policy.
type Session struct {
	Name     string `json:"name"`
	Policy   string `json:"policy"`
	PeriodMs uint32 `json:"period_ms"` // color period; every active session uses the same one
	// Delay also sends STAMP probes along the policy, every
	// ProbeIntervalMs (default 100), from the headend to the tail's
	// reflector; replies return by the underlay.
	Delay           bool   `json:"delay,omitempty"`
	ProbeIntervalMs uint32 `json:"probe_interval_ms,omitempty"`
	// ReturnPolicy, if set, carries the STAMP replies: a policy from the
	// measured policy's endpoint back to its headend. Empty: the underlay.
	ReturnPolicy string `json:"return_policy,omitempty"`
}

// SessionFields are the JSON fields of Session.
var SessionFields = []string{"name", "policy", "period_ms", "delay", "probe_interval_ms", "return_policy"}

// SessionView is a session with its latest results.
type SessionView struct {
	Session
	Results []LossResult `json:"results"`
}

// Result kinds.
const (
	KindLoss  = "loss"  // alternate marking: Tx/Rx count data packets
	KindDelay = "delay" // STAMP: Tx/Rx count probes, the RTT fields are set
)

// LossResult is the loss (or delay) of one segment list of a session's
// policy in one period: tx counted at the headend, rx at the tail.
type LossResult struct {
	Session     string    `json:"session"`
	Policy      string    `json:"policy"`
	Segments    []string  `json:"segments"`
	PeriodStart time.Time `json:"period_start"`
	PeriodMs    uint32    `json:"period_ms"`
	TxPackets   uint64    `json:"tx_packets"`
	RxPackets   uint64    `json:"rx_packets"`
	Lost        int64     `json:"lost"`
	LossRatio   float64   `json:"loss_ratio"`
	Kind        string    `json:"kind"` // KindLoss or KindDelay
	RTTMinMs    float64   `json:"rtt_min_ms,omitempty"`
	RTTAvgMs    float64   `json:"rtt_avg_ms,omitempty"`
	RTTMaxMs    float64   `json:"rtt_max_ms,omitempty"`
	JitterMs    float64   `json:"jitter_ms,omitempty"`
	// One-way averages, when the controller knows the clocks agree.
	ForwardAvgMs  float64 `json:"forward_avg_ms,omitempty"`
	BackwardAvgMs float64 `json:"backward_avg_ms,omitempty"`
}

// Key identifies r among its session's results (a period, a kind and a
// segment list make one result) and orders them by period: a result seen
// twice, from the stream and from a query, has one key.
func (r LossResult) Key() string {
	return fmt.Sprintf("%016d/%s/%s", r.PeriodStart.UnixMilli(), r.Kind, strings.Join(r.Segments, ","))
}

// NodeState is a router's desired state: what the controller pushes to
// its agent, the agent makes the kernel's sr6-owned routes equal to, and
// measures. Lists are [] when empty, never null.
type NodeState struct {
	Steering []SteeringRoute `json:"steering"`
	SIDs     []LocalSID      `json:"sids"`
	Underlay []UnderlayRoute `json:"underlay"`
	// Generation increases with every change the controller makes; the
	// agent reports the last one it applied.
	Generation uint64 `json:"generation"`
	// PM is what the router measures; absent when it measures nothing.
	PM *NodePM `json:"pm,omitempty"`
}

// SteeringRoute steers traffic to Prefix into a segment list.
type SteeringRoute struct {
	Prefix   netip.Prefix `json:"prefix"`
	Mode     Mode         `json:"mode"`
	Segments []netip.Addr `json:"segments"` // path order
	Policy   string       `json:"policy"`   // the owner
}

// Actions are the allowed values of LocalSID.Action (RFC 8986 names).
var Actions = []string{"End", "End.X", "End.T", "End.DX2", "End.DX4", "End.DX6", "End.DT6", "End.B6", "End.B6.Encaps"}

// LocalSID is a SID of the router with its behaviour; which parameters are
// set depends on the action.
type LocalSID struct {
	SID      netip.Addr   `json:"sid"`
	Action   string       `json:"action"`        // one of Actions
	NH4      *netip.Addr  `json:"nh4,omitempty"` // End.DX4 (0.0.0.0: route the inner packet)
	NH6      *netip.Addr  `json:"nh6,omitempty"` // End.X, End.DX6
	Table    int          `json:"table,omitempty"`
	OIF      string       `json:"oif,omitempty"`      // End.DX2's interface
	Segments []netip.Addr `json:"segments,omitempty"` // End.B6, End.B6.Encaps
}

// UnderlayRoute is a plain route: through Via on Dev, or unreachable.
type UnderlayRoute struct {
	Prefix      netip.Prefix `json:"prefix"`
	Via         *netip.Addr  `json:"via,omitempty"`
	Dev         string       `json:"dev,omitempty"`
	Unreachable bool         `json:"unreachable,omitempty"`
}

// NodePM is a router's measurement configuration: the segment lists it
// counts (alternate marking) and the STAMP probes it sends.
type NodePM struct {
	PeriodMs     uint32      `json:"period_ms"` // color period (0: no lists to count)
	MarkMask     uint32      `json:"mark_mask"` // the header bit carrying the color
	Lists        []PMList    `json:"lists"`
	ProbeAddr    *netip.Addr `json:"probe_addr,omitempty"` // the router's STAMP reflector
	Delays       []PMDelay   `json:"delays"`
	ClocksSynced bool        `json:"clocks_synced"` // STAMP reports one-way delays
}

// Roles of a router in a measured segment list.
const (
	RoleHeadend = "headend" // colors and counts on egress
	RoleTail    = "tail"    // counts on ingress
)

// Roles are the allowed values of PMList.Role.
var Roles = []string{RoleHeadend, RoleTail}

// PMList is one segment list the router counts for a session.
type PMList struct {
	Session  string       `json:"session"`
	Policy   string       `json:"policy"`
	Segments []netip.Addr `json:"segments"`
	Role     string       `json:"role"` // one of Roles
}

// PMDelay is one STAMP session the router sends, as the policy's headend.
type PMDelay struct {
	Session    string     `json:"session"`
	Policy     string     `json:"policy"`
	Target     netip.Addr `json:"target"` // the tail's probe address
	IntervalMs uint32     `json:"interval_ms"`
}
