package topo

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

var (
	labName  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,23}$`)
	nodeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)
)

// validate checks what the schema walk cannot: required fields, names,
// allowed values and the references between nodes and links. Fields that
// failed to parse are not Set and are skipped, so one mistake is reported
// once.
func validate(c *errs, s *Spec) {
	if s.Version.Set && s.Version.V != SchemaVersion {
		c.add(s.Version.Pos, "version", "unsupported version %d: this sr6 reads version %d", s.Version.V, SchemaVersion)
	}
	switch {
	case !s.Name.Set:
		c.add(Pos{Line: 1, Column: 1}, "name", "missing: every topology needs a name (it prefixes the lab's namespaces)")
	case !labName.MatchString(s.Name.V):
		c.add(s.Name.Pos, "name", "%q is not a lab name: 1 to 24 of a-z 0-9 _ -, starting with a letter or digit", s.Name.V)
	}
	if s.Routing.Set && s.Routing.V != RoutingStatic && s.Routing.V != RoutingISIS {
		c.add(s.Routing.Pos, "routing", "unknown routing %q; allowed values: %s, %s", s.Routing.V, RoutingStatic, RoutingISIS)
	}
	if p := s.Plan; p.LocatorLength.Set && p.Locators.Set && p.LocatorLength.V <= p.Locators.V.Bits() {
		c.add(p.LocatorLength.Pos, "plan.locator_length", "/%d must be longer than plan.locators %s to leave room for router ids",
			p.LocatorLength.V, p.Locators.V)
	}

	if len(s.Nodes) == 0 {
		c.add(Pos{Line: 1, Column: 1}, "nodes", "missing: a topology needs at least one node")
	}
	ks := s.Kinds()
	allowed := strings.Join(ks.Names(), ", ")
	srv6Kinds, underlayKinds := kindsWith(ks, SRv6), kindsWith(ks, Underlay)
	// traits of every defined node. A node whose kind is missing or
	// unknown (reported once, above) is judged as an underlay node on its
	// links: a mistyped "router" is the common case, and the links of a
	// file keep the errors they had before kinds were pluggable.
	traits := map[string]Traits{}
	kinds := map[string]string{}
	for _, n := range s.Nodes {
		field := "nodes." + n.Name.V
		if !nodeName.MatchString(n.Name.V) {
			c.add(n.Name.Pos, field, "%q is not a node name: 1 to 32 of A-Z a-z 0-9 _ -, starting with a letter", n.Name.V)
		}
		kinds[n.Name.V] = n.Kind.V
		t, known := ks.Traits(n.Kind.V)
		switch {
		case !n.Kind.Set:
			c.add(n.Pos, field+".kind", "missing; allowed values: %s", allowed)
		case !known:
			c.add(n.Kind.Pos, field+".kind", "unknown kind %q; allowed values: %s", n.Kind.V, allowed)
		}
		traits[n.Name.V] = t
		if !known {
			traits[n.Name.V] = Underlay | SRv6
		}
		if known && !t.Has(SRv6) {
			for _, f := range []struct {
				name string
				v    bool
				pos  Pos
			}{{"id", n.ID.Set, n.ID.Pos}, {"loopback", n.Loopback.Set, n.Loopback.Pos}, {"locator", n.Locator.Set, n.Locator.Pos}} {
				if f.v {
					c.add(f.pos, field+"."+f.name, "only %s have %s", plural(srv6Kinds), f.name)
				}
			}
		}
	}
	validateIDs(c, s)

	type ifaceUse struct {
		pos   Pos
		field string
	}
	used := map[Endpoint]ifaceUse{}
	linked := map[string]bool{}
	for i, l := range s.Links {
		field := "links[" + strconv.Itoa(i) + "]"
		if len(l.Endpoints) == 0 && !hasErrorAt(c, field) {
			c.add(l.Pos, field+".endpoints", "missing: write endpoints: [r1:eth1, r2:eth1]")
		}
		for j, ep := range l.Endpoints {
			f := field + ".endpoints[" + strconv.Itoa(j) + "]"
			_, ok := kinds[ep.V.Node]
			if !ok {
				c.add(ep.Pos, f, "node %q is not defined under nodes", ep.V.Node)
				continue
			}
			linked[ep.V.Node] = true
			if prev, dup := used[ep.V]; dup {
				c.add(ep.Pos, f, "interface %s is already used by %s (line %d)", ep.V, prev.field, prev.pos.Line)
				continue
			}
			used[ep.V] = ifaceUse{pos: ep.Pos, field: f}
		}
		if len(l.Endpoints) != 2 {
			continue
		}
		a, b := l.Endpoints[0].V, l.Endpoints[1].V
		if a.Node == b.Node {
			c.add(l.Endpoints[1].Pos, field+".endpoints", "a link cannot connect node %s to itself", a.Node)
		}
		ta, tb := linkTraits(traits, a.Node), linkTraits(traits, b.Node)
		switch {
		case a.Node == b.Node:
		case !ta.Has(Underlay) && !tb.Has(Underlay):
			what := plural([]string{kinds[a.Node]})
			if kinds[a.Node] != kinds[b.Node] {
				what = kinds[a.Node] + " and " + kinds[b.Node]
			}
			c.add(l.Endpoints[1].Pos, field+".endpoints", "%s %s and %s cannot be linked directly: %s attach to %s",
				what, a.Node, b.Node, plural(uniq(kinds[a.Node], kinds[b.Node])), plural(underlayKinds))
		}
		edge := !ta.Has(Underlay) || !tb.Has(Underlay)
		if l.Subnet4.Set && !edge {
			c.add(l.Subnet4.Pos, field+".subnet4", "only %s links carry IPv4: %s are linked over IPv6",
				strings.Join(kindsWithout(ks, Underlay), " and "), plural(underlayKinds))
		}
		if edge && l.Subnet6.Set && l.Subnet6.V.Bits() > 64 {
			c.add(l.Subnet6.Pos, field+".subnet6", "%s subnets must be /64 or shorter (SLAAC-sized), got /%d",
				strings.Join(kindsWithout(ks, Underlay), " and "), l.Subnet6.V.Bits())
		}
	}
	for _, n := range s.Nodes {
		if !traits[n.Name.V].Has(Underlay) && !linked[n.Name.V] {
			c.add(n.Pos, "nodes."+n.Name.V, "%s has no link: link it to %s", n.Kind.V, article(underlayKinds))
		}
	}
}

// linkTraits are the traits node's links are judged by: an undefined node
// (reported at the endpoint) counts as an underlay node, as an unknown kind
// does.
func linkTraits(traits map[string]Traits, node string) Traits {
	if t, ok := traits[node]; ok {
		return t
	}
	return Underlay | SRv6
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

func validateIDs(c *errs, s *Spec) {
	seen := map[int]string{}
	for _, n := range s.Nodes {
		if !n.ID.Set {
			continue
		}
		if other, dup := seen[n.ID.V]; dup {
			c.add(n.ID.Pos, "nodes."+n.Name.V+".id", "id %d is already taken by router %s", n.ID.V, other)
			continue
		}
		seen[n.ID.V] = n.Name.V
	}
}

func hasErrorAt(c *errs, prefix string) bool {
	return slices.ContainsFunc(c.list, func(e *Error) bool { return strings.HasPrefix(e.Field, prefix) })
}

func sortErrors(l ErrorList) {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Pos.Line != l[j].Pos.Line {
			return l[i].Pos.Line < l[j].Pos.Line
		}
		return l[i].Pos.Column < l[j].Pos.Column
	})
}
