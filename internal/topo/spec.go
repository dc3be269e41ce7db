package topo

import "net/netip"

// SchemaVersion is the only topology schema version this release reads.
const SchemaVersion = 1

// Value is one scalar from the file together with where it was written, so
// that checks made long after parsing (overlaps, references) still point at
// the right line and column.
type Value[T any] struct {
	V   T
	Pos Pos
	Set bool
}

// Spec is a topology file as written, before any address is planned.
// Nodes and links keep their file order: planning is deterministic in it.
type Spec struct {
	File    string
	Version Value[int]
	Name    Value[string]
	Routing Value[string]
	Plan    PlanSpec
	Nodes   []NodeSpec
	Links   []LinkSpec
	// kinds are the node kinds the file was checked against; Plan takes
	// the nodes' traits from them.
	kinds Kinds
}

// Kinds returns the node kinds s was loaded with.
func (s *Spec) Kinds() Kinds {
	if s.kinds == nil {
		return builtinKinds{}
	}
	return s.kinds
}

// PlanSpec holds the address pools the planner allocates from.
type PlanSpec struct {
	Loopbacks     Value[netip.Prefix]
	Locators      Value[netip.Prefix]
	LocatorLength Value[int]
	Links         Value[netip.Prefix]
	Hosts4        Value[netip.Prefix]
	Hosts6        Value[netip.Prefix]
}

// NodeSpec is one entry of `nodes:`.
type NodeSpec struct {
	Pos      Pos
	Name     Value[string]
	Kind     Value[string]
	ID       Value[int]
	Loopback Value[netip.Addr]
	Locator  Value[netip.Prefix]
}

// Endpoint is one end of a link, written "node:interface".
type Endpoint struct {
	Node  string
	Iface string
}

func (e Endpoint) String() string { return e.Node + ":" + e.Iface }

// LinkSpec is one entry of `links:`.
type LinkSpec struct {
	Pos       Pos
	Endpoints []Value[Endpoint]
	Metric    Value[int]
	Latency   Value[uint32]  // microseconds, TE metric
	Loss      Value[float64] // percent, 0..100
	Rate      Value[uint64]  // bit/s
	MTU       Value[int]     // bytes; unset: the ends' kinds decide
	Subnet4   Value[netip.Prefix]
	Subnet6   Value[netip.Prefix]
}

// Defaults of the address plan, documented in docs/topology.md.
const (
	defaultLoopbacks     = "fd00:0:ff::/48"
	defaultLocators      = "fc00::/32"
	defaultLocatorLength = 48
	defaultLinks         = "fd00:0:1::/48"
	defaultHosts4        = "10.0.0.0/16"
	defaultHosts6        = "fd00:0:2::/48"
)

// Routing modes of the underlay.
const (
	RoutingStatic = "static"
	RoutingISIS   = "isis"
)

// Bounds of a link's mtu: IPv6 needs at least 1280 bytes on every link (RFC
// 8200; below it the kernel turns IPv6 off on the interface), and a veth
// takes at most 65535 (the kernel refuses more with EINVAL).
const (
	MinMTU = 1280
	MaxMTU = 65535
)

// DefaultMetric is the IGP metric of a link that does not set one.
const DefaultMetric = 10
