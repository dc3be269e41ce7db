package pathcomp

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Metric names what Compute minimises.
type Metric string

// The metrics. The empty Metric means MetricIGP.
const (
	MetricIGP     Metric = "igp"     // sum of IGP metrics
	MetricHops    Metric = "hops"    // number of links
	MetricLatency Metric = "latency" // sum of TE latencies, µs (unknown = 0)
)

// metric is a Metric as an index into arc weights.
type metric uint8

const (
	metricIGP metric = iota
	metricHops
	metricLatency
	numMetrics
)

func (m Metric) index() (metric, error) {
	switch m {
	case "", MetricIGP:
		return metricIGP, nil
	case MetricHops:
		return metricHops, nil
	case MetricLatency:
		return metricLatency, nil
	}
	return 0, fmt.Errorf("%w constraints: unknown metric %q: use %q, %q or %q", ErrInvalid, string(m), MetricIGP, MetricHops, MetricLatency)
}

// ErrNoPath means the constraints leave no path; the wrapping error says
// which leg and which constraint.
var ErrNoPath = errors.New("no path")

// Constraints shape a path. All lists may be empty and may repeat ids.
type Constraints struct {
	Metric        Metric   // what to minimise; "" = igp
	Include       []NodeID // waypoints to visit in this order
	ExcludeNodes  []NodeID // never used; must not be the source, destination or a waypoint
	ExcludeLinks  []LinkID // never used
	DisjointLinks []LinkID // links of another path this one must not share (link-disjoint)
	// DisjointNodes are nodes of another path this one must not use: pass
	// them together with its links for a node-disjoint path. The source and
	// destination are exempt (two disjoint paths share them), so the other
	// path's whole Nodes may be passed; any other waypoint in the list is an
	// error.
	DisjointNodes []NodeID
}

// Path is a computed path. Nodes[0] is the source and the last node the
// destination; Links[i] joins Nodes[i] and Nodes[i+1]. A path from a node
// to itself has one node and no links. Cost is in the metric the path was
// computed for (Expand, which knows no metric, reports IGP).
type Path struct {
	Nodes []NodeID
	Links []LinkID
	Cost  uint64
}

// Compute returns the cheapest path from src to dst under c, visiting the
// waypoints in order. Each leg between consecutive stops (source,
// waypoints, destination) is a constrained shortest path of its own; legs
// may revisit nodes of earlier legs, which SR allows, and a leg is empty
// only when its two stops are the same node. Ties are broken as the
// package documentation says. Errors wrap ErrInvalid for bad requests and
// ErrNoPath, naming the leg and the constraint to blame, when there is no
// path.
func (g *Graph) Compute(src, dst NodeID, c Constraints) (Path, error) {
	m, err := c.Metric.index()
	if err != nil {
		return Path{}, err
	}
	if err := g.checkIDs(src, dst, &c); err != nil {
		return Path{}, err
	}
	s := g.getScratch()
	defer g.putScratch(s)
	g.applyBans(s, &c, src, dst, numStages)
	if err := g.checkStops(s, src, dst, &c); err != nil {
		return Path{}, err
	}
	p := Path{Nodes: make([]NodeID, 1, 16), Links: make([]LinkID, 0, 16)}
	p.Nodes[0] = src
	from := src
	for leg := 0; leg <= len(c.Include); leg++ {
		to := dst
		if leg < len(c.Include) {
			to = c.Include[leg]
		}
		if from == to {
			continue
		}
		if !g.search(s, from, to, m) {
			return Path{}, g.noPath(s, &c, src, dst, leg, from, to)
		}
		p.Cost += s.dist[to]
		g.appendLeg(s, &p, from, to)
		from = to
	}
	return p, nil
}

// checkIDs rejects ids that are not in the graph.
func (g *Graph) checkIDs(src, dst NodeID, c *Constraints) error {
	for _, n := range []struct {
		what string
		ids  []NodeID
	}{{"source", []NodeID{src}}, {"destination", []NodeID{dst}}, {"Include", c.Include}, {"ExcludeNodes", c.ExcludeNodes}, {"DisjointNodes", c.DisjointNodes}} {
		for _, id := range n.ids {
			if !g.validNode(id) {
				return fmt.Errorf("%w constraints: %s: node %d is not in the graph (%d nodes)", ErrInvalid, n.what, id, len(g.nodes))
			}
		}
	}
	for _, l := range []struct {
		what string
		ids  []LinkID
	}{{"ExcludeLinks", c.ExcludeLinks}, {"DisjointLinks", c.DisjointLinks}} {
		for _, id := range l.ids {
			if !g.validLink(id) {
				return fmt.Errorf("%w constraints: %s: link %d is not in the graph (%d links)", ErrInvalid, l.what, id, len(g.links))
			}
		}
	}
	return nil
}

// checkStops rejects constraints that ban a node the path must visit:
// there is no point searching, and "no path" would hide the contradiction.
func (g *Graph) checkStops(s *scratch, src, dst NodeID, c *Constraints) error {
	blame := func(n NodeID) string {
		if slices.Contains(c.ExcludeNodes, n) {
			return "ExcludeNodes"
		}
		return "DisjointNodes"
	}
	if s.banNode[src] {
		return fmt.Errorf("%w constraints: source %s is in %s", ErrInvalid, g.name(src), blame(src))
	}
	if s.banNode[dst] {
		return fmt.Errorf("%w constraints: destination %s is in %s", ErrInvalid, g.name(dst), blame(dst))
	}
	for i, w := range c.Include {
		if s.banNode[w] {
			return fmt.Errorf("%w constraints: waypoint %s (Include[%d]) is in %s", ErrInvalid, g.name(w), i, blame(w))
		}
	}
	return nil
}

// The families of constraints, in the order applyBans adds them and
// whyNoPath blames them.
const (
	stageDown = iota
	stageExcludeNodes
	stageExcludeLinks
	stageDisjointLinks
	stageDisjointNodes
	numStages
)

// applyBans sets s's banned nodes and links to the first n families of
// constraints (n = numStages: all of them).
func (g *Graph) applyBans(s *scratch, c *Constraints, src, dst NodeID, n int) {
	g.banDown(s, n <= stageDown)
	for st := stageExcludeNodes; st < n; st++ {
		switch st {
		case stageExcludeNodes:
			for _, id := range c.ExcludeNodes {
				s.banNode[id] = true
			}
		case stageExcludeLinks:
			for _, id := range c.ExcludeLinks {
				s.banLink[id] = true
			}
		case stageDisjointLinks:
			for _, id := range c.DisjointLinks {
				s.banLink[id] = true
			}
		case stageDisjointNodes:
			for _, id := range c.DisjointNodes {
				if id != src && id != dst {
					s.banNode[id] = true
				}
			}
		}
	}
}

// search is Dijkstra from src under metric m, avoiding s's bans, stopping
// as soon as dst is settled. It reports whether dst is reachable; s.dist
// and s.prev then hold its distance and shortest-path tree.
func (g *Graph) search(s *scratch, src, dst NodeID, m metric) bool {
	s.start(src)
	for len(s.heap.e) > 0 {
		e := s.heap.pop()
		u := e.v
		if s.done[u] {
			continue // stale entry
		}
		s.done[u] = true
		if u == dst {
			return true
		}
		for _, a := range g.arcs[g.off[u]:g.off[u+1]] {
			v := a.to
			if s.done[v] || s.banLink[a.link] || s.banNode[v] {
				continue
			}
			// Strictly less: the first offer of a distance keeps it (ties).
			if d := e.d + uint64(a.w[m]); d < s.dist[v] {
				s.set(v, d, a.link)
			}
		}
	}
	return false
}

// start resets the search state left by the previous search (only the
// nodes it touched) and seeds the heap with root.
func (s *scratch) start(root NodeID) {
	for _, v := range s.touched {
		s.dist[v] = math.MaxUint64
		s.done[v] = false
		s.cnt[v] = 0
	}
	s.touched = s.touched[:0]
	s.heap.reset()
	s.set(root, 0, NoLink)
}

// set records a better tentative distance for v and queues it.
func (s *scratch) set(v NodeID, d uint64, via LinkID) {
	if s.dist[v] == math.MaxUint64 {
		s.touched = append(s.touched, v)
	}
	s.dist[v] = d
	s.prev[v] = via
	s.heap.push(d, v)
}

// appendLeg appends the search tree's path from `from` to `to` to p.
func (g *Graph) appendLeg(s *scratch, p *Path, from, to NodeID) {
	s.links = s.links[:0]
	for v := to; v != from; {
		l := s.prev[v]
		s.links = append(s.links, l)
		v = g.links[l].Other(v)
	}
	for i := len(s.links) - 1; i >= 0; i-- {
		l := s.links[i]
		p.Links = append(p.Links, l)
		p.Nodes = append(p.Nodes, g.links[l].Other(p.Nodes[len(p.Nodes)-1]))
	}
}

// noPath builds the ErrNoPath error for a leg that failed.
func (g *Graph) noPath(s *scratch, c *Constraints, src, dst NodeID, leg int, from, to NodeID) error {
	where := fmt.Sprintf("from %s to %s", g.name(src), g.name(dst))
	if len(c.Include) > 0 {
		where += fmt.Sprintf(" via %s: leg %d/%d (%s -> %s)", g.nodeList(c.Include), leg+1, len(c.Include)+1, g.name(from), g.name(to))
	}
	return fmt.Errorf("%w %s: %s", ErrNoPath, where, g.whyNoPath(s, c, src, dst, from, to))
}

// whyNoPath finds the constraint to blame for `to` being unreachable from
// `from`: it adds the families one at a time (link state, ExcludeNodes,
// ExcludeLinks, DisjointLinks, DisjointNodes) and names the first after
// which the leg has no path, with those applied before it. Only the failure
// path pays for these extra searches.
func (g *Graph) whyNoPath(s *scratch, c *Constraints, src, dst, from, to NodeID) string {
	var before []string
	for n := 0; n <= numStages; n++ {
		what := ""
		if n > 0 {
			what = g.describeStage(c, n-1)
			if what == "" {
				continue // an empty family changes nothing
			}
		}
		g.applyBans(s, c, src, dst, n)
		if g.search(s, from, to, metricHops) {
			if what != "" {
				before = append(before, what)
			}
			continue
		}
		if n == 0 {
			return fmt.Sprintf("%s and %s are not connected, even with every link up", g.name(from), g.name(to))
		}
		msg := fmt.Sprintf("%s cut %s off from %s", what, g.name(from), g.name(to))
		if len(before) > 0 {
			msg += " (on top of " + strings.Join(before, "; ") + ")"
		}
		return msg
	}
	return "the constraints leave no path" // not reached: all stages applied is what failed
}

// describeStage names a family of constraints with its members, or returns
// "" when it is empty.
func (g *Graph) describeStage(c *Constraints, st int) string {
	switch st {
	case stageDown:
		var down []LinkID
		for l, u := range g.up {
			if !u {
				down = append(down, LinkID(l))
			}
		}
		if len(down) == 0 {
			return ""
		}
		return "down links " + g.linkList(down)
	case stageExcludeNodes:
		if len(c.ExcludeNodes) > 0 {
			return "ExcludeNodes " + g.nodeList(c.ExcludeNodes)
		}
	case stageExcludeLinks:
		if len(c.ExcludeLinks) > 0 {
			return "ExcludeLinks " + g.linkList(c.ExcludeLinks)
		}
	case stageDisjointLinks:
		if len(c.DisjointLinks) > 0 {
			return "DisjointLinks " + g.linkList(c.DisjointLinks)
		}
	case stageDisjointNodes:
		if len(c.DisjointNodes) > 0 {
			return "DisjointNodes " + g.nodeList(c.DisjointNodes)
		}
	}
	return ""
}

// listMax bounds the names an error message lists.
const listMax = 6

func (g *Graph) nodeList(ids []NodeID) string {
	return bracket(len(ids), func(i int) string { return g.name(ids[i]) })
}

func (g *Graph) linkList(ids []LinkID) string {
	return bracket(len(ids), func(i int) string { return g.linkName(ids[i]) })
}

// bracket formats up to listMax names as "[a b c]", then "+N more".
func bracket(n int, name func(int) string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range min(n, listMax) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(name(i))
	}
	if n > listMax {
		fmt.Fprintf(&b, " +%d more", n-listMax)
	}
	b.WriteByte(']')
	return b.String()
}
