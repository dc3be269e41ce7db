package topo

import (
	"fmt"
	"net/netip"
)

// Network is a planned topology: every address, locator and SID decided.
// It is what the lab, the controller and the UI read; nothing changes it
// after Plan returns.
type Network struct {
	Name    string
	Routing string
	Pools   Pools
	Nodes   []*Node // file order
	Links   []*Link // file order
	byName  map[string]*Node
}

// Pools are the address pools in effect (file values or defaults).
type Pools struct {
	Loopbacks     netip.Prefix `json:"loopbacks"`
	Locators      netip.Prefix `json:"locators"`
	LocatorLength int          `json:"locator_length"`
	Links         netip.Prefix `json:"links"`
	Hosts4        netip.Prefix `json:"hosts4"`
	Hosts6        netip.Prefix `json:"hosts6"`
}

// Node is one node of the network, of one kind.
type Node struct {
	Name string
	Kind string
	// Traits are those its kind declares, copied by the planner: ask them,
	// not the kind's name.
	Traits     Traits
	ID         int          // SRv6 nodes only
	Loopback   netip.Addr   // SRv6 nodes only
	Locator    netip.Prefix // SRv6 nodes only
	SIDs       SIDs         // SRv6 nodes only
	Probe      netip.Addr   // SRv6 nodes only: STAMP reflector address, in the locator
	Interfaces []*Interface // file order of the links
}

// SIDs are the segment identifiers every SRv6 node has in its locator.
type SIDs struct {
	End netip.Addr `json:"end"` // End: transit waypoint
	DX4 netip.Addr `json:"dx4"` // End.DX4 nh4 0.0.0.0: decapsulate, route inner IPv4
	DT6 netip.Addr `json:"dt6"` // End.DT6 table 254: decapsulate, route inner IPv6
}

// SID function values inside a router's locator.
const (
	FuncEnd = 0x1
	FuncDX4 = 0xd4
	FuncDT6 = 0xd6
	// FuncAdjBase + n is the End.X SID of a router's n-th interface (file
	// order, from 1).
	FuncAdjBase = 0xe000
	// FuncProbe is the address a router's STAMP reflector listens on.
	FuncProbe = 0x5
)

// Interface is one end of a link, on one node.
type Interface struct {
	Node  *Node
	Name  string
	Link  *Link
	Peer  *Interface
	Addr4 netip.Prefix // edge links only: address with the subnet length
	Addr6 netip.Prefix
	// AdjSID is the End.X SID of an underlay node's interface on a core
	// link: it forwards out of this interface to the peer, whatever the
	// routing table says.
	AdjSID netip.Addr
}

// Link connects two interfaces.
type Link struct {
	Index   int // position in the file's links list
	A, B    *Interface
	Metric  int
	Latency uint32  // TE latency metric, microseconds (not emulated)
	Loss    float64 // percent
	Rate    uint64  // bit/s, 0 = unlimited
	MTU     int     // bytes, 0 = the ends' kinds decide
	Subnet4 netip.Prefix
	Subnet6 netip.Prefix
}

// Has tells whether n's kind has every trait of t.
func (n *Node) Has(t Traits) bool { return n.Traits.Has(t) }

// Node returns the node called name, or nil.
func (nw *Network) Node(name string) *Node { return nw.byName[name] }

// NodesWith returns the nodes whose kind has every trait of t, in file
// order: NodesWith(Underlay) are the nodes the underlay routes between.
func (nw *Network) NodesWith(t Traits) []*Node {
	var out []*Node
	for _, n := range nw.Nodes {
		if n.Has(t) {
			out = append(out, n)
		}
	}
	return out
}

// NodesWithout returns the nodes whose kind lacks some trait of t, in file
// order: NodesWithout(Underlay) are the nodes that hang off a gateway.
func (nw *Network) NodesWithout(t Traits) []*Node {
	var out []*Node
	for _, n := range nw.Nodes {
		if !n.Has(t) {
			out = append(out, n)
		}
	}
	return out
}

// Routers is NodesWith(Underlay). It stays only for the lab files being
// rewritten for supervised daemons (deploy.go, agents.go, isis.go), which
// move to the kinds registry at their merge; new code asks traits or the
// registry.
func (nw *Network) Routers() []*Node { return nw.NodesWith(Underlay) }

// Iface returns n's interface called name, or nil.
func (n *Node) Iface(name string) *Interface {
	for _, i := range n.Interfaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// IsCore tells whether l joins two underlay nodes (a core link); otherwise
// it is an edge link, with a node hanging off the underlay at one end.
func (l *Link) IsCore() bool { return l.A.Node.Has(Underlay) && l.B.Node.Has(Underlay) }

func (l *Link) String() string {
	return fmt.Sprintf("%s:%s--%s:%s", l.A.Node.Name, l.A.Name, l.B.Node.Name, l.B.Name)
}

// Gateway is the underlay interface a node outside the underlay sends its
// traffic to: the peer of its first interface. Underlay nodes have none.
func (n *Node) Gateway() *Interface {
	if n.Has(Underlay) || len(n.Interfaces) == 0 {
		return nil
	}
	return n.Interfaces[0].Peer
}

// AttachedRouter is the underlay node a node outside the underlay hangs off
// (its gateway's node).
func (n *Node) AttachedRouter() *Node {
	if gw := n.Gateway(); gw != nil {
		return gw.Node
	}
	return nil
}
