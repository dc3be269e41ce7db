package topo

import (
	"fmt"
	"net/netip"
)

// Pins are planned values a running lab must keep when its topology file
// changes: router ids (which number loopbacks, locators and SIDs), link
// subnets and End.X SIDs. Plan numbers them by file order, so without pins
// adding a node or a link in the middle of a file would renumber the ones
// after it under running policies.
type Pins struct {
	// IDs are router ids by node name.
	IDs map[string]int `json:"ids,omitempty"`
	// Subnets are link subnets by LinkKey.
	Subnets map[string]LinkSubnets `json:"subnets,omitempty"`
	// AdjSIDs are End.X SIDs by "node:interface".
	AdjSIDs map[string]netip.Addr `json:"adj_sids,omitempty"`
}

// LinkSubnets are the subnets of one link.
type LinkSubnets struct {
	// A is the end that took the first address ("node:interface"): a
	// file that writes the ends the other way round keeps the addresses.
	A       string       `json:"a"`
	Subnet6 netip.Prefix `json:"subnet6"`
	Subnet4 netip.Prefix `json:"subnet4,omitzero"`
}

// LinkKey names a link by its two ends, whichever order the file writes
// them in: "a:eth0--b:eth1" with the smaller end first.
func LinkKey(a, b Endpoint) string {
	x, y := a.String(), b.String()
	if y < x {
		x, y = y, x
	}
	return x + "--" + y
}

// Key is l's LinkKey.
func (l *Link) Key() string {
	return LinkKey(Endpoint{l.A.Node.Name, l.A.Name}, Endpoint{l.B.Node.Name, l.B.Name})
}

// PinsOf records every value of nw that Pins can keep.
func PinsOf(nw *Network) *Pins {
	p := &Pins{IDs: map[string]int{}, Subnets: map[string]LinkSubnets{}, AdjSIDs: map[string]netip.Addr{}}
	for _, n := range nw.Nodes {
		if n.Has(SRv6) {
			p.IDs[n.Name] = n.ID
		}
		for _, ifc := range n.Interfaces {
			if ifc.AdjSID.IsValid() {
				p.AdjSIDs[n.Name+":"+ifc.Name] = ifc.AdjSID
			}
		}
	}
	for _, l := range nw.Links {
		p.Subnets[l.Key()] = LinkSubnets{A: l.A.Node.Name + ":" + l.A.Name, Subnet6: l.Subnet6, Subnet4: l.Subnet4}
	}
	return p
}

// pin applies p to s: every node and link the file leaves to the planner
// takes its pinned value, as if the file set it. An id the file sets on
// another node that a pinned one already holds is an error at that id.
func (p *Pins) pin(c *errs, s *Spec) {
	if p == nil {
		return
	}
	holder := map[int]string{}
	for i := range s.Nodes {
		ns := &s.Nodes[i]
		if id, ok := p.IDs[ns.Name.V]; ok && !ns.ID.Set {
			holder[id] = ns.Name.V
		}
	}
	for i := range s.Nodes {
		ns := &s.Nodes[i]
		if ns.ID.Set {
			if other, ok := holder[ns.ID.V]; ok && other != ns.Name.V {
				c.add(ns.ID.Pos, "nodes."+ns.Name.V+".id",
					"id %d is held by router %s of the running lab, whose addresses and SIDs are kept: pick another id, or deploy with --replace", ns.ID.V, other)
			}
			continue
		}
		if id, ok := p.IDs[ns.Name.V]; ok {
			ns.ID = Value[int]{V: id, Pos: ns.Pos, Set: true}
		}
	}
	for i := range s.Links {
		ls := &s.Links[i]
		if len(ls.Endpoints) != 2 {
			continue
		}
		sub, ok := p.Subnets[LinkKey(ls.Endpoints[0].V, ls.Endpoints[1].V)]
		if !ok {
			continue
		}
		if ls.Endpoints[0].V.String() != sub.A {
			ls.Endpoints = []Value[Endpoint]{ls.Endpoints[1], ls.Endpoints[0]}
		}
		if !ls.Subnet6.Set && sub.Subnet6.IsValid() {
			ls.Subnet6 = Value[netip.Prefix]{V: sub.Subnet6, Pos: ls.Pos, Set: true}
		}
		if !ls.Subnet4.Set && sub.Subnet4.IsValid() {
			ls.Subnet4 = Value[netip.Prefix]{V: sub.Subnet4, Pos: ls.Pos, Set: true}
		}
	}
}

// PlanPinned is Plan keeping the values p pins (nil: none). s is not
// changed.
func PlanPinned(s *Spec, p *Pins) (*Network, error) {
	if p == nil {
		return plan(s, nil)
	}
	cp := *s
	cp.Nodes = append([]NodeSpec(nil), s.Nodes...)
	cp.Links = append([]LinkSpec(nil), s.Links...)
	c := &errs{file: s.File}
	p.pin(c, &cp)
	if err := c.err(); err != nil {
		return nil, err
	}
	return plan(&cp, p)
}

// adjSIDs gives each underlay node an End.X SID per core link: the pinned
// one where there is one (in the node's locator), else function
// FuncAdjBase + the interface's position, or the next one free.
func adjSIDs(nw *Network, p *Pins) {
	for _, n := range nw.NodesWith(Underlay | SRv6) {
		taken := map[netip.Addr]bool{}
		pinned := map[*Interface]netip.Addr{}
		if p != nil {
			for _, ifc := range n.Interfaces {
				if sid, ok := p.AdjSIDs[n.Name+":"+ifc.Name]; ok && ifc.Link.IsCore() && n.Locator.Contains(sid) {
					pinned[ifc], taken[sid] = sid, true
				}
			}
		}
		for i, ifc := range n.Interfaces {
			if !ifc.Link.IsCore() {
				continue
			}
			if sid, ok := pinned[ifc]; ok {
				ifc.AdjSID = sid
				continue
			}
			f := FuncAdjBase + uint64(i) + 1
			for taken[sidAddr(n.Locator, f)] {
				f++
			}
			ifc.AdjSID = sidAddr(n.Locator, f)
			taken[ifc.AdjSID] = true
		}
	}
}

// String is a short summary, for logs.
func (p *Pins) String() string {
	if p == nil {
		return "no pins"
	}
	return fmt.Sprintf("%d ids, %d link subnets, %d End.X SIDs", len(p.IDs), len(p.Subnets), len(p.AdjSIDs))
}
