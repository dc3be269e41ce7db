package pathcomp

import (
	"fmt"
	"strings"
	"testing"
)

// Hand graphs are written as a node list and links, so each test shows the
// topology it is about.

// tl is a test link: endpoints by name, IGP metric and latency.
type tl struct {
	a, b     string
	igp, lat uint32
}

// mk builds a graph of the space-separated nodes and the links, all up.
// Links are named "a--b", and "a--b#2", "a--b#3"... for parallel ones.
func mk(t testing.TB, nodes string, links ...tl) *Graph {
	t.Helper()
	var ns []Node
	idx := map[string]NodeID{}
	for _, n := range strings.Fields(nodes) {
		idx[n] = NodeID(len(ns))
		ns = append(ns, Node{Name: n})
	}
	seen := map[string]int{}
	var ls []Link
	for _, l := range links {
		a, okA := idx[l.a]
		b, okB := idx[l.b]
		if !okA || !okB {
			t.Fatalf("link %s--%s: unknown node", l.a, l.b)
		}
		name := l.a + "--" + l.b
		seen[name]++
		if k := seen[name]; k > 1 {
			name = fmt.Sprintf("%s#%d", name, k)
		}
		ls = append(ls, Link{Name: name, A: a, B: b, IGP: l.igp, Latency: l.lat, Up: true})
	}
	g, err := NewGraph(ns, ls)
	if err != nil {
		t.Fatalf("NewGraph: %v", err)
	}
	return g
}

// nid and lid look names up, failing the test on a typo.
func nid(t testing.TB, g *Graph, name string) NodeID {
	t.Helper()
	id, ok := g.NodeByName(name)
	if !ok {
		t.Fatalf("no node %q", name)
	}
	return id
}

func lid(t testing.TB, g *Graph, name string) LinkID {
	t.Helper()
	id, ok := g.LinkByName(name)
	if !ok {
		t.Fatalf("no link %q", name)
	}
	return id
}

// nids and lids look up space-separated names.
func nids(t testing.TB, g *Graph, names string) []NodeID {
	t.Helper()
	var ids []NodeID
	for _, n := range strings.Fields(names) {
		ids = append(ids, nid(t, g, n))
	}
	return ids
}

func lids(t testing.TB, g *Graph, names string) []LinkID {
	t.Helper()
	var ids []LinkID
	for _, n := range strings.Fields(names) {
		ids = append(ids, lid(t, g, n))
	}
	return ids
}

// show writes a path as its node names, with the link names where a link
// is not the only one between its ends: "r1 r2 -r2--r3#2-> r3".
func show(g *Graph, p Path) string {
	var b strings.Builder
	for i, n := range p.Nodes {
		if i > 0 {
			l := p.Links[i-1]
			if g.parallel(l) {
				fmt.Fprintf(&b, " -%s->", g.linkName(l))
			}
			b.WriteByte(' ')
		}
		b.WriteString(g.name(n))
	}
	return b.String()
}

// parallel tells whether another link joins l's ends.
func (g *Graph) parallel(l LinkID) bool {
	if !g.validLink(l) {
		return false
	}
	k := g.links[l]
	for _, a := range g.arcs[g.off[k.A]:g.off[k.A+1]] {
		if a.to == k.B && a.link != l {
			return true
		}
	}
	return false
}

// Test graphs used by several tests.

// ring6 is r1..r6 in a ring of equal links: every pair of opposite nodes
// has two equal-cost paths.
func ring6(t testing.TB) *Graph {
	return mk(t, "r1 r2 r3 r4 r5 r6",
		tl{"r1", "r2", 1, 10}, tl{"r2", "r3", 1, 10}, tl{"r3", "r4", 1, 10},
		tl{"r4", "r5", 1, 10}, tl{"r5", "r6", 1, 10}, tl{"r6", "r1", 1, 10})
}

// tri's direct r1--r3 link is the IGP shortest path (10 against 10+10) but
// slow (100 µs against 10+10), so IGP and hops take it and latency goes
// round by r2.
func tri(t testing.TB) *Graph {
	return mk(t, "r1 r2 r3", tl{"r1", "r2", 10, 10}, tl{"r2", "r3", 10, 10}, tl{"r1", "r3", 10, 100})
}
