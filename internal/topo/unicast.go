package topo

import (
	"fmt"
	"net/netip"
)

// Addresses the kernel refuses at deploy time, found by deploying them:
// without these checks validation passed and deploy failed half-way with
// "cannot assign requested address" or "network is unreachable" and no
// position in the file.
var (
	multicast6 = netip.MustParsePrefix("ff00::/8")
	thisNet4   = netip.MustParsePrefix("0.0.0.0/8")
	multicast4 = netip.MustParsePrefix("224.0.0.0/4")
)

// unusable says why the kernel cannot give a to a node, or "" if it can.
// Every planned address goes on an interface (loopbacks on lo) and IPv4
// ones also serve as a host's default gateway.
func unusable(a netip.Addr) string {
	switch {
	case a.Is6() && a.IsUnspecified():
		return "is the unspecified address, which the kernel does not assign"
	case a.Is6() && a.IsLoopback():
		return "is the loopback address, which every namespace already has on lo"
	case a.Is6() && multicast6.Contains(a):
		return "is multicast (ff00::/8): the kernel assigns only unicast addresses"
	case a.Is4() && thisNet4.Contains(a):
		return "is in 0.0.0.0/8 (this network): the kernel refuses a host's gateway there"
	case a.Is4() && multicast4.Contains(a):
		return "is multicast (224.0.0.0/4): the kernel refuses a host's gateway there"
	}
	return ""
}

// checkAddresses reports every planned address the kernel would refuse, at
// the field it came from: the override if the file sets one, else the pool
// if the file sets it, else the node or link. A pool is reported once.
func checkAddresses(c *errs, s *Spec, nw *Network) {
	reported := map[string]bool{}
	report := func(field string, pos Pos, what string, a fmt.Stringer, why string) {
		if reported[field] {
			return
		}
		reported[field] = true
		c.add(pos, field, "%s %s %s", what, a, why)
	}
	from := func(override Value[netip.Prefix], overrideField string, pool Value[netip.Prefix], poolField, field string, pos Pos) (string, Pos) {
		switch {
		case override.Set:
			return overrideField, override.Pos
		case pool.Set:
			return poolField, pool.Pos
		}
		return field, pos
	}
	for i, ns := range s.Nodes {
		n := nw.Nodes[i]
		// Only nodes that got a loopback and a locator (routers) have
		// those to check.
		if !n.Loopback.IsValid() {
			continue
		}
		field := "nodes." + n.Name
		if why := unusable(n.Loopback); why != "" {
			f, pos := field, ns.Pos
			switch {
			case ns.Loopback.Set:
				f, pos = field+".loopback", ns.Loopback.Pos
			case s.Plan.Loopbacks.Set:
				f, pos = "plan.loopbacks", s.Plan.Loopbacks.Pos
			}
			report(f, pos, "loopback of "+n.Name, n.Loopback, why)
		}
		// SIDs are unicast addresses (RFC 8986): the kernel installs a
		// multicast seg6local route but never delivers a packet to it, and
		// a locator ::/N would make ::1 the End SID.
		if !n.Locator.IsValid() {
			continue
		}
		f, pos := from(ns.Locator, field+".locator", s.Plan.Locators, "plan.locators", field, ns.Pos)
		if n.Locator.Overlaps(multicast6) {
			report(f, pos, "locator of "+n.Name, n.Locator, "is multicast (ff00::/8): SIDs must be unicast")
			continue
		}
		for _, sid := range []netip.Addr{n.SIDs.End, n.SIDs.DX4, n.SIDs.DT6, n.Probe} {
			if why := unusable(sid); why != "" {
				report(f, pos, "SID of "+n.Name, sid, why)
			}
		}
	}
	for i, ls := range s.Links {
		l := nw.Links[i]
		field := fmt.Sprintf("links[%d]", i)
		pool6, pool6Field := s.Plan.Links, "plan.links"
		// Only host links carry IPv4, and they take IPv6 from hosts6.
		if l.Subnet4.IsValid() {
			pool6, pool6Field = s.Plan.Hosts6, "plan.hosts6"
		}
		for _, ifc := range []*Interface{l.A, l.B} {
			what := "address of " + ifc.Node.Name + ":" + ifc.Name
			if why := unusable(ifc.Addr6.Addr()); ifc.Addr6.IsValid() && why != "" {
				f, pos := from(ls.Subnet6, field+".subnet6", pool6, pool6Field, field, ls.Pos)
				report(f, pos, what, ifc.Addr6.Addr(), why)
			}
			if why := unusable(ifc.Addr4.Addr()); ifc.Addr4.IsValid() && why != "" {
				f, pos := from(ls.Subnet4, field+".subnet4", s.Plan.Hosts4, "plan.hosts4", field, ls.Pos)
				report(f, pos, what, ifc.Addr4.Addr(), why)
			}
		}
	}
}
