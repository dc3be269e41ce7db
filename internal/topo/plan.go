package topo

import (
	"fmt"
	"net/netip"
	"sort"
)

// allocation is one planned prefix and the place in the file it came from,
// kept to report overlaps at the right field.
type allocation struct {
	prefix netip.Prefix
	what   string
	field  string
	pos    Pos
}

// Plan decides every address of a validated spec and returns the Network.
// Errors (overlapping prefixes, exhausted pools) are an ErrorList anchored to
// the fields involved.
func Plan(s *Spec) (*Network, error) { return plan(s, nil) }

func plan(s *Spec, pins *Pins) (*Network, error) {
	c := &errs{file: s.File}
	nw := &Network{
		Name:    s.Name.V,
		Routing: RoutingStatic,
		Pools:   pools(s.Plan),
		byName:  map[string]*Node{},
	}
	if s.Routing.Set {
		nw.Routing = s.Routing.V
	}
	if nw.Pools.LocatorLength <= nw.Pools.Locators.Bits() {
		// Anchor to the field the file sets: with the default locators, the
		// culprit is locator_length.
		field, pos := "plan.locators", s.Plan.Locators.Pos
		if !s.Plan.Locators.Set {
			field, pos = "plan.locator_length", s.Plan.LocatorLength.Pos
		}
		c.add(pos, field, "%s leaves no room for router ids before locator_length /%d",
			nw.Pools.Locators, nw.Pools.LocatorLength)
		return nil, c.err()
	}
	var allocs []allocation
	for _, p := range []struct {
		name string
		v    Value[netip.Prefix]
		eff  netip.Prefix
	}{
		{"loopbacks", s.Plan.Loopbacks, nw.Pools.Loopbacks},
		{"locators", s.Plan.Locators, nw.Pools.Locators},
		{"links", s.Plan.Links, nw.Pools.Links},
		{"hosts6", s.Plan.Hosts6, nw.Pools.Hosts6},
		{"hosts4", s.Plan.Hosts4, nw.Pools.Hosts4},
	} {
		allocs = append(allocs, allocation{prefix: p.eff, what: "pool plan." + p.name, field: "plan." + p.name, pos: p.v.Pos})
	}
	poolsOK := checkOverlaps(c, allocs)

	planNodes(c, s, nw)
	planLinks(c, s, nw)
	if err := c.err(); err != nil {
		return nil, err
	}
	adjSIDs(nw, pins)
	checkAddresses(c, s, nw)
	if poolsOK {
		checkOverlaps(c, nodeAllocations(s, nw))
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	return nw, nil
}

func pools(p PlanSpec) Pools {
	or := func(v Value[netip.Prefix], def string) netip.Prefix {
		if v.Set {
			return v.V
		}
		return netip.MustParsePrefix(def)
	}
	ps := Pools{
		Loopbacks:     or(p.Loopbacks, defaultLoopbacks),
		Locators:      or(p.Locators, defaultLocators),
		LocatorLength: defaultLocatorLength,
		Links:         or(p.Links, defaultLinks),
		Hosts4:        or(p.Hosts4, defaultHosts4),
		Hosts6:        or(p.Hosts6, defaultHosts6),
	}
	if p.LocatorLength.Set {
		ps.LocatorLength = p.LocatorLength.V
	}
	return ps
}

// planNodes creates the nodes with their kinds' traits and gives every SRv6
// node its id, loopback, locator, SIDs and probe address. Ids are shared by
// all SRv6 kinds: the locator and loopback are numbered by them.
func planNodes(c *errs, s *Spec, nw *Network) {
	ks := s.Kinds()
	taken := map[int]bool{}
	for _, ns := range s.Nodes {
		if ns.ID.Set {
			taken[ns.ID.V] = true
		}
	}
	next := 1
	for _, ns := range s.Nodes {
		n := &Node{Name: ns.Name.V, Kind: ns.Kind.V}
		// Parse validated every kind against ks.
		n.Traits, _ = ks.Traits(n.Kind)
		nw.Nodes = append(nw.Nodes, n)
		nw.byName[n.Name] = n
		if !n.Has(SRv6) {
			continue
		}
		if ns.ID.Set {
			n.ID = ns.ID.V
		} else {
			for taken[next] {
				next++
			}
			n.ID = next
			taken[next] = true
		}
		field := "nodes." + n.Name
		if ns.Loopback.Set {
			n.Loopback = ns.Loopback.V
		} else {
			n.Loopback = hostAddr(nw.Pools.Loopbacks, uint64(n.ID)).Addr()
			if !nw.Pools.Loopbacks.Contains(n.Loopback) {
				c.add(ns.Pos, field, "router id %d does not fit in plan.loopbacks %s", n.ID, nw.Pools.Loopbacks)
			}
		}
		if ns.Locator.Set {
			n.Locator = ns.Locator.V
		} else {
			loc, ok := nthSubnet(nw.Pools.Locators, nw.Pools.LocatorLength, uint64(n.ID))
			if !ok {
				c.add(ns.Pos, field, "router id %d does not fit in plan.locators %s with locator_length /%d",
					n.ID, nw.Pools.Locators, nw.Pools.LocatorLength)
				continue
			}
			n.Locator = loc
		}
		n.Probe = sidAddr(n.Locator, FuncProbe)
		n.SIDs = SIDs{
			End: sidAddr(n.Locator, FuncEnd),
			DX4: sidAddr(n.Locator, FuncDX4),
			DT6: sidAddr(n.Locator, FuncDT6),
		}
	}
}

// sidAddr places function f in the lowest bits of the locator, the
// "locator::function" form Linux SRv6 labs conventionally use.
func sidAddr(loc netip.Prefix, f uint64) netip.Addr { return hostAddr(loc, f).Addr() }

// subnetAllocator hands out successive subnets of a pool, skipping those that
// overlap prefixes the file sets explicitly.
type subnetAllocator struct {
	pool     netip.Prefix
	bits     int
	next     uint64
	reserved []netip.Prefix
}

// newSubnetAllocator skips subnet 0 so that link and host subnets number
// from 1, as people count links, unless the pool holds a single subnet.
func newSubnetAllocator(pool netip.Prefix, bits int, reserved []netip.Prefix) *subnetAllocator {
	a := &subnetAllocator{pool: pool, bits: bits, reserved: reserved}
	if _, ok := nthSubnet(pool, bits, 1); ok {
		a.next = 1
	}
	return a
}

func (a *subnetAllocator) take() (netip.Prefix, bool) {
	for {
		p, ok := nthSubnet(a.pool, a.bits, a.next)
		if !ok || a.next == ^uint64(0) {
			return netip.Prefix{}, false
		}
		a.next++
		clash := false
		for _, r := range a.reserved {
			if r.Overlaps(p) {
				clash = true
				// Jump past a reserved prefix wider than one subnet:
				// stepping through it could take up to 2^64 steps.
				if r.Bits() < a.bits {
					next, ok := subnetIndexAfter(a.pool, a.bits, r)
					if !ok {
						return netip.Prefix{}, false
					}
					a.next = next
				}
				break
			}
		}
		if !clash {
			return p, true
		}
	}
}

func planLinks(c *errs, s *Spec, nw *Network) {
	var reserved []netip.Prefix
	for _, ls := range s.Links {
		for _, v := range []Value[netip.Prefix]{ls.Subnet4, ls.Subnet6} {
			if v.Set {
				reserved = append(reserved, v.V)
			}
		}
	}
	links := newSubnetAllocator(nw.Pools.Links, 64, reserved)
	hosts6 := newSubnetAllocator(nw.Pools.Hosts6, 64, reserved)
	hosts4 := newSubnetAllocator(nw.Pools.Hosts4, 24, reserved)

	for i, ls := range s.Links {
		field := fmt.Sprintf("links[%d]", i)
		a, b := nw.byName[ls.Endpoints[0].V.Node], nw.byName[ls.Endpoints[1].V.Node]
		l := &Link{Index: i, Metric: DefaultMetric, Latency: ls.Latency.V, Loss: ls.Loss.V, Rate: ls.Rate.V, MTU: ls.MTU.V}
		if ls.Metric.Set {
			l.Metric = ls.Metric.V
		}
		l.A = &Interface{Node: a, Name: ls.Endpoints[0].V.Iface, Link: l}
		l.B = &Interface{Node: b, Name: ls.Endpoints[1].V.Iface, Link: l}
		l.A.Peer, l.B.Peer = l.B, l.A
		a.Interfaces = append(a.Interfaces, l.A)
		b.Interfaces = append(b.Interfaces, l.B)
		nw.Links = append(nw.Links, l)

		take := func(v Value[netip.Prefix], alloc *subnetAllocator, poolField string) (netip.Prefix, bool) {
			if v.Set {
				return v.V, true
			}
			p, ok := alloc.take()
			if !ok {
				c.add(ls.Pos, field, "%s %s is exhausted: make it larger", poolField, alloc.pool)
			}
			return p, ok
		}
		if l.IsCore() {
			if p, ok := take(ls.Subnet6, links, "plan.links"); ok {
				l.Subnet6 = p
				l.A.Addr6, l.B.Addr6 = hostAddr(p, 1), hostAddr(p, 2)
			}
			continue
		}
		// An edge link: the underlay side takes .1 / ::1, the other .2 / ::2.
		rtr, host := l.A, l.B
		if !rtr.Node.Has(Underlay) {
			rtr, host = host, rtr
		}
		if p, ok := take(ls.Subnet6, hosts6, "plan.hosts6"); ok {
			l.Subnet6 = p
			rtr.Addr6, host.Addr6 = hostAddr(p, 1), hostAddr(p, 2)
		}
		if p, ok := take(ls.Subnet4, hosts4, "plan.hosts4"); ok {
			l.Subnet4 = p
			rtr.Addr4, host.Addr4 = hostAddr(p, 1), hostAddr(p, 2)
		}
	}
}

// nodeAllocations lists every prefix the plan hands out, with the field that
// caused it.
func nodeAllocations(s *Spec, nw *Network) []allocation {
	var out []allocation
	for i, ns := range s.Nodes {
		n := nw.Nodes[i]
		if !n.Has(SRv6) {
			continue
		}
		field, pos := "nodes."+n.Name, ns.Pos
		lbField, lbPos := field, pos
		if ns.Loopback.Set {
			lbField, lbPos = field+".loopback", ns.Loopback.Pos
		}
		locField, locPos := field, pos
		if ns.Locator.Set {
			locField, locPos = field+".locator", ns.Locator.Pos
		}
		out = append(out,
			allocation{netip.PrefixFrom(n.Loopback, 128), "loopback of " + n.Name, lbField, lbPos},
			allocation{n.Locator, "locator of " + n.Name, locField, locPos})
	}
	for i, ls := range s.Links {
		l := nw.Links[i]
		field := fmt.Sprintf("links[%d]", i)
		f6, p6 := field, ls.Pos
		if ls.Subnet6.Set {
			f6, p6 = field+".subnet6", ls.Subnet6.Pos
		}
		out = append(out, allocation{l.Subnet6, "subnet of link " + l.String(), f6, p6})
		if l.Subnet4.IsValid() {
			f4, p4 := field, ls.Pos
			if ls.Subnet4.Set {
				f4, p4 = field+".subnet4", ls.Subnet4.Pos
			}
			out = append(out, allocation{l.Subnet4, "IPv4 subnet of link " + l.String(), f4, p4})
		}
	}
	return out
}

// checkOverlaps reports every allocation that overlaps an earlier one in
// address order, and tells whether none did. Sorting by start address and
// tracking the widest prefix seen so far finds each overlap in one pass.
func checkOverlaps(c *errs, allocs []allocation) bool {
	sort.SliceStable(allocs, func(i, j int) bool {
		ai, aj := allocs[i].prefix, allocs[j].prefix
		if ai.Addr().BitLen() != aj.Addr().BitLen() {
			return ai.Addr().BitLen() < aj.Addr().BitLen()
		}
		if cmp := ai.Addr().Compare(aj.Addr()); cmp != 0 {
			return cmp < 0
		}
		return ai.Bits() < aj.Bits()
	})
	ok := true
	var widest *allocation
	for i := range allocs {
		cur := &allocs[i]
		if widest != nil && widest.prefix.Overlaps(cur.prefix) {
			// Report at whichever of the two the user wrote later in the
			// file: that is usually the one to change.
			first, second := widest, cur
			if second.pos.Line < first.pos.Line {
				first, second = second, first
			}
			c.add(second.pos, second.field, "%s %s overlaps %s %s", second.what, second.prefix, first.what, first.prefix)
			ok = false
		}
		if widest == nil || !widest.prefix.Overlaps(cur.prefix) ||
			lastAddr(cur.prefix).Compare(lastAddr(widest.prefix)) > 0 {
			widest = cur
		}
	}
	return ok
}
