package pathcomp

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
)

// randomGraph is a connected graph of n nodes: a random spanning tree plus
// about n/2..3n/2 extra links, some parallel, IGP 1..20 and latency 0..20
// (0 = unknown, now and then). Some links are then taken down, which may
// split it.
func randomGraph(t testing.TB, rng *rand.Rand, n int) *Graph {
	t.Helper()
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{Name: fmt.Sprintf("r%d", i)}
	}
	var links []Link
	add := func(a, b int) {
		links = append(links, Link{
			Name: fmt.Sprintf("L%d:r%d--r%d", len(links), a, b),
			A:    NodeID(a), B: NodeID(b),
			IGP:     1 + rng.Uint32N(20),
			Latency: rng.Uint32N(21),
			Up:      true,
		})
	}
	for i := 1; i < n; i++ {
		add(i, rng.IntN(i))
	}
	for range n/2 + rng.IntN(n+1) {
		a, b := rng.IntN(n), rng.IntN(n)
		if a != b {
			add(a, b)
		}
	}
	g, err := NewGraph(nodes, links)
	if err != nil {
		t.Fatal(err)
	}
	down := map[LinkID]bool{}
	for range rng.IntN(4) {
		down[LinkID(rng.IntN(len(links)))] = false
	}
	return g.WithLinkState(down)
}

// randomConstraints draws a metric, up to two waypoints, up to two excluded
// nodes and links, and sometimes disjointness from the plain shortest path.
func randomConstraints(g *Graph, rng *rand.Rand, src, dst NodeID) Constraints {
	n, m := g.NumNodes(), g.NumLinks()
	c := Constraints{Metric: []Metric{"", MetricIGP, MetricHops, MetricLatency}[rng.IntN(4)]}
	for range rng.IntN(3) {
		c.Include = append(c.Include, NodeID(rng.IntN(n)))
	}
	for range rng.IntN(3) {
		x := NodeID(rng.IntN(n))
		if x != src && x != dst && !slices.Contains(c.Include, x) {
			c.ExcludeNodes = append(c.ExcludeNodes, x)
		}
	}
	for range rng.IntN(3) {
		c.ExcludeLinks = append(c.ExcludeLinks, LinkID(rng.IntN(m)))
	}
	if rng.IntN(3) == 0 {
		if other, err := g.Compute(src, dst, Constraints{}); err == nil {
			c.DisjointLinks = other.Links
			if rng.IntN(2) == 0 {
				for _, x := range other.Nodes {
					if !slices.Contains(c.Include, x) || x == src || x == dst {
						c.DisjointNodes = append(c.DisjointNodes, x)
					}
				}
			}
		}
	}
	return c
}

// bans are the nodes and links a path under c may not use, worked out
// independently of Compute.
type bans struct {
	nodes map[NodeID]bool
	links map[LinkID]bool
}

func bansOf(g *Graph, c Constraints, src, dst NodeID) bans {
	b := bans{nodes: map[NodeID]bool{}, links: map[LinkID]bool{}}
	for _, x := range c.ExcludeNodes {
		b.nodes[x] = true
	}
	for _, x := range c.DisjointNodes {
		if x != src && x != dst {
			b.nodes[x] = true
		}
	}
	for _, l := range slices.Concat(c.ExcludeLinks, c.DisjointLinks) {
		b.links[l] = true
	}
	for l := range LinkID(g.NumLinks()) {
		if !g.Link(l).Up {
			b.links[l] = true
		}
	}
	return b
}

func weight(l Link, m Metric) uint64 {
	switch m {
	case MetricHops:
		return 1
	case MetricLatency:
		return uint64(l.Latency)
	}
	return uint64(l.IGP)
}

// bellmanFord is the reference for one leg: relax every allowed link until
// nothing changes. It shares no code with Compute.
func bellmanFord(g *Graph, b bans, m Metric, from, to NodeID) (uint64, bool) {
	dist := make([]uint64, g.NumNodes())
	for i := range dist {
		dist[i] = math.MaxUint64
	}
	dist[from] = 0
	for changed := true; changed; {
		changed = false
		for id := range LinkID(g.NumLinks()) {
			l := g.Link(id)
			if b.links[id] || b.nodes[l.A] || b.nodes[l.B] {
				continue
			}
			w := weight(l, m)
			for _, e := range [][2]NodeID{{l.A, l.B}, {l.B, l.A}} {
				if u, v := e[0], e[1]; dist[u] != math.MaxUint64 && dist[u]+w < dist[v] {
					dist[v], changed = dist[u]+w, true
				}
			}
		}
	}
	return dist[to], dist[to] != math.MaxUint64
}

// exhaustive is the reference for small graphs: the cheapest of all simple
// paths, enumerated by depth-first search.
func exhaustive(g *Graph, b bans, m Metric, from, to NodeID) (uint64, bool) {
	best, found := uint64(math.MaxUint64), false
	seen := make([]bool, g.NumNodes())
	var dfs func(u NodeID, cost uint64)
	dfs = func(u NodeID, cost uint64) {
		if u == to {
			best, found = min(best, cost), true
			return
		}
		seen[u] = true
		for id := range LinkID(g.NumLinks()) {
			l := g.Link(id)
			if b.links[id] || (l.A != u && l.B != u) {
				continue
			}
			if v := l.Other(u); !seen[v] && !b.nodes[v] {
				dfs(v, cost+weight(l, m))
			}
		}
		seen[u] = false
	}
	dfs(from, 0)
	return best, found
}

type reference func(g *Graph, b bans, m Metric, from, to NodeID) (uint64, bool)

// refCompute is the reference cost over all legs, and whether every leg has
// a path.
func refCompute(g *Graph, ref reference, src, dst NodeID, c Constraints) (uint64, bool) {
	b := bansOf(g, c, src, dst)
	stops := slices.Concat([]NodeID{src}, c.Include, []NodeID{dst})
	var total uint64
	for i := 1; i < len(stops); i++ {
		if stops[i-1] == stops[i] {
			continue
		}
		cost, ok := ref(g, b, c.Metric, stops[i-1], stops[i])
		if !ok {
			return 0, false
		}
		total += cost
	}
	return total, true
}

// checkPath fails t unless p is a walk from src to dst over allowed up
// links through the waypoints in order, costing p.Cost.
func checkPath(t *testing.T, g *Graph, p Path, src, dst NodeID, c Constraints) {
	t.Helper()
	if len(p.Nodes) == 0 || p.Nodes[0] != src || p.Nodes[len(p.Nodes)-1] != dst || len(p.Links) != len(p.Nodes)-1 {
		t.Fatalf("path %s is not from %s to %s", show(g, p), g.name(src), g.name(dst))
	}
	b := bansOf(g, c, src, dst)
	var cost uint64
	for i, id := range p.Links {
		l := g.Link(id)
		if u, v := p.Nodes[i], p.Nodes[i+1]; !(l.A == u && l.B == v || l.A == v && l.B == u) {
			t.Fatalf("path %s: link %s does not join %s and %s", show(g, p), l.Name, g.name(u), g.name(v))
		}
		if b.links[id] {
			t.Fatalf("path %s uses banned or down link %s", show(g, p), l.Name)
		}
		cost += weight(l, c.Metric)
	}
	for _, n := range p.Nodes {
		if b.nodes[n] {
			t.Fatalf("path %s uses banned node %s", show(g, p), g.name(n))
		}
	}
	if cost != p.Cost {
		t.Fatalf("path %s: Cost %d, links sum to %d", show(g, p), p.Cost, cost)
	}
	// The waypoints are a subsequence of the nodes (one visit serves
	// repeated consecutive waypoints).
	k := 0
	for _, n := range p.Nodes {
		for k < len(c.Include) && n == c.Include[k] {
			k++
		}
	}
	if k < len(c.Include) {
		t.Fatalf("path %s misses waypoint %s (in order %s)", show(g, p), g.name(c.Include[k]), g.nodeList(c.Include))
	}
}

// checkSegments fails t unless both segment lists end with the destination
// and the compressed one forwards the packet exactly along p.
func checkSegments(t *testing.T, g *Graph, p Path) (segs []Segment) {
	t.Helper()
	src, dst := p.Nodes[0], p.Nodes[len(p.Nodes)-1]
	segs, err := g.Segments(p, false)
	if err != nil {
		t.Fatalf("Segments(%s): %v", show(g, p), err)
	}
	if segs[len(segs)-1] != NodeSegment(dst) || len(segs) > len(p.Links)+1 {
		t.Fatalf("Segments(%s) = %s: must end with %s, at most one more segment than links", show(g, p), g.FormatSegments(segs), g.name(dst))
	}
	back, err := g.Expand(src, segs)
	if err != nil {
		t.Fatalf("Segments(%s) = %s does not forward: %v", show(g, p), g.FormatSegments(segs), err)
	}
	if !slices.Equal(back.Nodes, p.Nodes) || !slices.Equal(back.Links, p.Links) {
		t.Fatalf("Segments(%s) = %s forwards along %s", show(g, p), g.FormatSegments(segs), show(g, back))
	}
	hop, err := g.Segments(p, true)
	if err != nil {
		t.Fatalf("Segments(%s, perHop): %v", show(g, p), err)
	}
	want := make([]Segment, 0, len(p.Nodes))
	for _, n := range p.Nodes[1:] {
		want = append(want, NodeSegment(n))
	}
	if len(p.Links) == 0 {
		want = []Segment{NodeSegment(dst)}
	}
	if !slices.Equal(hop, want) {
		t.Fatalf("Segments(%s, perHop) = %s", show(g, p), g.FormatSegments(hop))
	}
	return segs
}

// TestProperties checks Compute against independent references on random
// graphs and requests, and Segments against Expand on every path found:
// 200 graphs of 20-60 nodes against Bellman-Ford, 200 of 4-12 nodes against
// enumeration of all simple paths. Seeded, so failures reproduce.
func TestProperties(t *testing.T) {
	for _, set := range []struct {
		name     string
		min, max int
		ref      reference
	}{
		{"20-60 nodes vs Bellman-Ford", 20, 60, bellmanFord},
		{"4-12 nodes vs all simple paths", 4, 12, exhaustive},
	} {
		t.Run(set.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var found, none, adjs, segs, links int
			for range 200 {
				g := randomGraph(t, rng, set.min+rng.IntN(set.max-set.min+1))
				for range 10 {
					src, dst := NodeID(rng.IntN(g.NumNodes())), NodeID(rng.IntN(g.NumNodes()))
					c := randomConstraints(g, rng, src, dst)
					want, ok := refCompute(g, set.ref, src, dst, c)
					p, err := g.Compute(src, dst, c)
					switch {
					case errors.Is(err, ErrNoPath):
						if ok {
							t.Fatalf("%s -> %s %+v: %v; the reference finds cost %d", g.name(src), g.name(dst), c, err, want)
						}
						none++
						continue
					case err != nil:
						t.Fatalf("%s -> %s %+v: %v", g.name(src), g.name(dst), c, err)
					case !ok:
						t.Fatalf("%s -> %s %+v: %s, but the reference finds no path", g.name(src), g.name(dst), c, show(g, p))
					}
					found++
					checkPath(t, g, p, src, dst, c)
					if p.Cost != want {
						t.Fatalf("%s -> %s %+v: %s costs %d, the reference %d", g.name(src), g.name(dst), c, show(g, p), p.Cost, want)
					}
					if again, _ := g.Compute(src, dst, c); !reflect.DeepEqual(again, p) {
						t.Fatalf("%s -> %s %+v: %s, then %s", g.name(src), g.name(dst), c, show(g, p), show(g, again))
					}
					s := checkSegments(t, g, p)
					segs += len(s)
					links += len(p.Links)
					for _, sg := range s {
						if sg.Adj != NoLink {
							adjs++
						}
					}
				}
			}
			t.Logf("%d paths (%d links, %d segments of which %d adjacencies), %d without a path", found, links, segs, adjs, none)
			// Guard against a generator that stops exercising the code.
			if found < 1000 || none < 20 || adjs < 20 {
				t.Errorf("weak coverage: %d paths, %d without, %d adjacency segments", found, none, adjs)
			}
		})
	}
}

// TestConcurrent runs Compute and Segments from many goroutines on one
// graph (run with -race): results must match a sequential run.
func TestConcurrent(t *testing.T) {
	g, err := GridGraph(20, 20, 7)
	if err != nil {
		t.Fatal(err)
	}
	g = g.WithLinkState(map[LinkID]bool{3: false, 50: false})
	type result struct {
		p    Path
		segs []Segment
	}
	rng := rand.New(rand.NewPCG(3, 4))
	type req struct {
		src, dst NodeID
		c        Constraints
	}
	reqs := make([]req, 64)
	want := make([]result, len(reqs))
	for i := range reqs {
		src, dst := NodeID(rng.IntN(g.NumNodes())), NodeID(rng.IntN(g.NumNodes()))
		reqs[i] = req{src, dst, randomConstraints(g, rng, src, dst)}
		want[i].p, _ = g.Compute(src, dst, reqs[i].c)
		if len(want[i].p.Nodes) > 0 {
			want[i].segs, _ = g.Segments(want[i].p, false)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 8 {
		wg.Go(func() {
			for k := range 3 * len(reqs) {
				i := (k + w*7) % len(reqs)
				var got result
				got.p, _ = g.Compute(reqs[i].src, reqs[i].dst, reqs[i].c)
				if len(got.p.Nodes) > 0 {
					got.segs, _ = g.Segments(got.p, false)
				}
				if !reflect.DeepEqual(got, want[i]) {
					errs <- fmt.Sprintf("worker %d request %d: %s %s, want %s %s", w, i,
						show(g, got.p), g.FormatSegments(got.segs), show(g, want[i].p), g.FormatSegments(want[i].segs))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
