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

// Node is a router or a host.
type Node struct {
	Name       string
	Kind       string
	ID         int          // routers only
	Loopback   netip.Addr   // routers only
	Locator    netip.Prefix // routers only
	SIDs       SIDs         // routers only
	Probe      netip.Addr   // routers only: STAMP reflector address, in the locator
	Interfaces []*Interface // file order of the links
}

// SIDs are the segment identifiers every router installs at deploy time.
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
	Addr4 netip.Prefix // host links only: address with the subnet length
	Addr6 netip.Prefix
	// AdjSID is the End.X SID of a router's interface to another router:
	// it forwards out of this interface to the peer, whatever the routing
	// table says.
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
	Subnet4 netip.Prefix
	Subnet6 netip.Prefix
}

// IsRouter tells whether n is a router.
func (n *Node) IsRouter() bool { return n.Kind == KindRouter }

// Node returns the node called name, or nil.
func (nw *Network) Node(name string) *Node { return nw.byName[name] }

// Routers returns the routers in file order.
func (nw *Network) Routers() []*Node {
	var rs []*Node
	for _, n := range nw.Nodes {
		if n.IsRouter() {
			rs = append(rs, n)
		}
	}
	return rs
}

// Iface returns n's interface called name, or nil.
func (n *Node) Iface(name string) *Interface {
	for _, i := range n.Interfaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// IsHostLink tells whether a host sits on one end of l.
func (l *Link) IsHostLink() bool { return !l.A.Node.IsRouter() || !l.B.Node.IsRouter() }

func (l *Link) String() string {
	return fmt.Sprintf("%s:%s--%s:%s", l.A.Node.Name, l.A.Name, l.B.Node.Name, l.B.Name)
}

// Gateway is the router interface a host sends its traffic to: the peer of
// its first interface.
func (n *Node) Gateway() *Interface {
	if n.IsRouter() || len(n.Interfaces) == 0 {
		return nil
	}
	return n.Interfaces[0].Peer
}

// AttachedRouter is the router a host hangs off (its gateway's node).
func (n *Node) AttachedRouter() *Node {
	if gw := n.Gateway(); gw != nil {
		return gw.Node
	}
	return nil
}
