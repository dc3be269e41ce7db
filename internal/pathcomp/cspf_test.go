package pathcomp

import (
	"errors"
	"strings"
	"testing"
)

// metrics3 has one best path per metric from r1 to r4:
// igp by r2 r3 (3), hops by r5 (2 links), latency by r6 r7 (30 µs).
func metrics3(t testing.TB) *Graph {
	return mk(t, "r1 r2 r3 r4 r5 r6 r7",
		tl{"r1", "r2", 1, 100}, tl{"r2", "r3", 1, 100}, tl{"r3", "r4", 1, 100},
		tl{"r1", "r5", 10, 100}, tl{"r5", "r4", 10, 100},
		tl{"r1", "r6", 5, 10}, tl{"r6", "r7", 5, 10}, tl{"r7", "r4", 5, 10})
}

// parallel2 joins r1 and r2 by three links: IGP 5 (fast), 1 and 1 (slow).
func parallel2(t testing.TB) *Graph {
	return mk(t, "r1 r2", tl{"r1", "r2", 5, 10}, tl{"r1", "r2", 1, 100}, tl{"r1", "r2", 1, 50})
}

// fig8 has a link-disjoint detour through the hub m (r1 x m y r4) and a
// dearer node-disjoint one (r1 z1 z2 r4).
func fig8(t testing.TB) *Graph {
	return mk(t, "r1 m r4 x y z1 z2",
		tl{"r1", "m", 1, 0}, tl{"m", "r4", 1, 0},
		tl{"r1", "x", 1, 0}, tl{"x", "m", 1, 0}, tl{"m", "y", 1, 0}, tl{"y", "r4", 1, 0},
		tl{"r1", "z1", 10, 0}, tl{"z1", "z2", 10, 0}, tl{"z2", "r4", 10, 0})
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name     string
		g        func(testing.TB) *Graph
		src, dst string
		c        func(t testing.TB, g *Graph) Constraints // nil = none
		want     string                                   // show() of the path
		cost     uint64
	}{
		{name: "igp is the default", g: metrics3, src: "r1", dst: "r4", want: "r1 r2 r3 r4", cost: 3},
		{name: "igp", g: metrics3, src: "r1", dst: "r4",
			c: func(testing.TB, *Graph) Constraints { return Constraints{Metric: MetricIGP} }, want: "r1 r2 r3 r4", cost: 3},
		{name: "hops", g: metrics3, src: "r1", dst: "r4",
			c: func(testing.TB, *Graph) Constraints { return Constraints{Metric: MetricHops} }, want: "r1 r5 r4", cost: 2},
		{name: "latency", g: metrics3, src: "r1", dst: "r4",
			c: func(testing.TB, *Graph) Constraints { return Constraints{Metric: MetricLatency} }, want: "r1 r6 r7 r4", cost: 30},
		{name: "triangle igp takes the direct link", g: tri, src: "r1", dst: "r3", want: "r1 r3", cost: 10},
		{name: "triangle latency goes round", g: tri, src: "r1", dst: "r3",
			c: func(testing.TB, *Graph) Constraints { return Constraints{Metric: MetricLatency} }, want: "r1 r2 r3", cost: 20},
		{name: "unknown latency counts as 0", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2 r3", tl{"r1", "r3", 1, 5}, tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0})
		}, src: "r1", dst: "r3",
			c: func(testing.TB, *Graph) Constraints { return Constraints{Metric: MetricLatency} }, want: "r1 r2 r3", cost: 0},

		// Ties: the path found first wins (FIFO at equal distance, links in
		// id order), so listing the ring's links the other way round flips it.
		{name: "tie: lowest link id first", g: ring6, src: "r1", dst: "r4", want: "r1 r2 r3 r4", cost: 3},
		{name: "tie: other link order", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2 r3 r4 r5 r6",
				tl{"r6", "r1", 1, 10}, tl{"r5", "r6", 1, 10}, tl{"r4", "r5", 1, 10},
				tl{"r3", "r4", 1, 10}, tl{"r2", "r3", 1, 10}, tl{"r1", "r2", 1, 10})
		}, src: "r1", dst: "r4", want: "r1 r6 r5 r4", cost: 3},
		{name: "parallel: cheapest IGP, lowest id among equals", g: parallel2, src: "r1", dst: "r2", want: "r1 -r1--r2#2-> r2", cost: 1},
		{name: "parallel: latency", g: parallel2, src: "r1", dst: "r2",
			c: func(testing.TB, *Graph) Constraints { return Constraints{Metric: MetricLatency} }, want: "r1 -r1--r2-> r2", cost: 10},
		{name: "parallel: hops tie takes the lowest id", g: parallel2, src: "r2", dst: "r1",
			c: func(testing.TB, *Graph) Constraints { return Constraints{Metric: MetricHops} }, want: "r2 -r1--r2-> r1", cost: 1},

		{name: "src == dst", g: ring6, src: "r3", dst: "r3", want: "r3", cost: 0},
		{name: "src == dst via a waypoint", g: ring6, src: "r1", dst: "r1",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{Include: nids(t, g, "r3")} }, want: "r1 r2 r3 r2 r1", cost: 4},
		{name: "waypoint", g: ring6, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{Include: nids(t, g, "r5")} }, want: "r1 r6 r5 r4", cost: 3},
		{name: "waypoints in order, revisiting r4", g: ring6, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{Include: nids(t, g, "r3 r5")} }, want: "r1 r2 r3 r4 r5 r4", cost: 5},
		{name: "waypoints in the other order", g: ring6, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{Include: nids(t, g, "r5 r3")} }, want: "r1 r6 r5 r4 r3 r4", cost: 5},
		{name: "waypoint == src", g: ring6, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{Include: nids(t, g, "r1")} }, want: "r1 r2 r3 r4", cost: 3},
		{name: "waypoint == dst", g: ring6, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{Include: nids(t, g, "r4")} }, want: "r1 r2 r3 r4", cost: 3},
		{name: "repeated waypoint", g: ring6, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{Include: nids(t, g, "r2 r2 r6")} }, want: "r1 r2 r1 r6 r5 r4", cost: 5},
		{name: "exclude node", g: ring6, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{ExcludeNodes: nids(t, g, "r2")} }, want: "r1 r6 r5 r4", cost: 3},
		{name: "exclude link", g: ring6, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{ExcludeLinks: lids(t, g, "r2--r3")} }, want: "r1 r6 r5 r4", cost: 3},
		{name: "exclude a parallel link", g: parallel2, src: "r1", dst: "r2",
			c: func(t testing.TB, g *Graph) Constraints { return Constraints{ExcludeLinks: lids(t, g, "r1--r2#2")} }, want: "r1 -r1--r2#3-> r2", cost: 1},
		{name: "down link", g: func(t testing.TB) *Graph {
			g := ring6(t)
			return g.WithLinkState(map[LinkID]bool{lid(t, g, "r3--r4"): false})
		}, src: "r1", dst: "r4", want: "r1 r6 r5 r4", cost: 3},
		{name: "link back up", g: func(t testing.TB) *Graph {
			g := ring6(t)
			l := lid(t, g, "r3--r4")
			return g.WithLinkState(map[LinkID]bool{l: false}).WithLinkState(map[LinkID]bool{l: true})
		}, src: "r1", dst: "r4", want: "r1 r2 r3 r4", cost: 3},
		{name: "link-disjoint", g: fig8, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints {
				return Constraints{DisjointLinks: lids(t, g, "r1--m m--r4")}
			}, want: "r1 x m y r4", cost: 4},
		{name: "node-disjoint (other path's nodes, src and dst exempt)", g: fig8, src: "r1", dst: "r4",
			c: func(t testing.TB, g *Graph) Constraints {
				return Constraints{DisjointLinks: lids(t, g, "r1--m m--r4"), DisjointNodes: nids(t, g, "r1 m r4")}
			}, want: "r1 z1 z2 r4", cost: 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g(t)
			var c Constraints
			if tt.c != nil {
				c = tt.c(t, g)
			}
			p, err := g.Compute(nid(t, g, tt.src), nid(t, g, tt.dst), c)
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if got := show(g, p); got != tt.want || p.Cost != tt.cost {
				t.Errorf("Compute = %s (cost %d), want %s (cost %d)", got, p.Cost, tt.want, tt.cost)
			}
			if len(p.Links) != len(p.Nodes)-1 {
				t.Errorf("%d links for %d nodes", len(p.Links), len(p.Nodes))
			}
		})
	}
}

// TestComputeDisjointPair computes a path, then one disjoint from it, as a
// controller protecting a policy would.
func TestComputeDisjointPair(t *testing.T) {
	g := ring6(t)
	r1, r4 := nid(t, g, "r1"), nid(t, g, "r4")
	primary, err := g.Compute(r1, r4, Constraints{})
	if err != nil {
		t.Fatal(err)
	}
	backup, err := g.Compute(r1, r4, Constraints{DisjointLinks: primary.Links, DisjointNodes: primary.Nodes})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := show(g, primary)+" / "+show(g, backup), "r1 r2 r3 r4 / r1 r6 r5 r4"; got != want {
		t.Errorf("primary / backup = %s, want %s", got, want)
	}
}

func TestComputeNoPath(t *testing.T) {
	// line is r1 -- r2 -- r3, with r4 on its own.
	line := func(t testing.TB) *Graph {
		return mk(t, "r1 r2 r3 r4", tl{"r1", "r2", 1, 1}, tl{"r2", "r3", 1, 1})
	}
	tests := []struct {
		name     string
		g        func(testing.TB) *Graph
		src, dst string
		c        func(t testing.TB, g *Graph) Constraints
		want     string // the whole error message
	}{
		{"not connected", line, "r1", "r4", nil,
			"no path from r1 to r4: r1 and r4 are not connected, even with every link up"},
		{"down link", func(t testing.TB) *Graph {
			g := line(t)
			return g.WithLinkState(map[LinkID]bool{lid(t, g, "r2--r3"): false})
		}, "r1", "r3", nil,
			"no path from r1 to r3: down links [r2--r3] cut r1 off from r3"},
		{"exclude node", line, "r1", "r3",
			func(t testing.TB, g *Graph) Constraints { return Constraints{ExcludeNodes: nids(t, g, "r2")} },
			"no path from r1 to r3: ExcludeNodes [r2] cut r1 off from r3"},
		{"exclude link", line, "r1", "r3",
			func(t testing.TB, g *Graph) Constraints { return Constraints{ExcludeLinks: lids(t, g, "r1--r2")} },
			"no path from r1 to r3: ExcludeLinks [r1--r2] cut r1 off from r3"},
		{"disjoint links", line, "r3", "r1",
			func(t testing.TB, g *Graph) Constraints {
				return Constraints{DisjointLinks: lids(t, g, "r1--r2 r2--r3")}
			},
			"no path from r3 to r1: DisjointLinks [r1--r2 r2--r3] cut r3 off from r1"},
		{"disjoint nodes", line, "r1", "r3",
			func(t testing.TB, g *Graph) Constraints { return Constraints{DisjointNodes: nids(t, g, "r1 r2 r3")} },
			"no path from r1 to r3: DisjointNodes [r1 r2 r3] cut r1 off from r3"},
		{"blame the last straw", ring6, "r1", "r4",
			func(t testing.TB, g *Graph) Constraints {
				return Constraints{ExcludeNodes: nids(t, g, "r2"), ExcludeLinks: lids(t, g, "r5--r6")}
			},
			"no path from r1 to r4: ExcludeLinks [r5--r6] cut r1 off from r4 (on top of ExcludeNodes [r2])"},
		{"first leg", line, "r1", "r3",
			func(t testing.TB, g *Graph) Constraints { return Constraints{Include: nids(t, g, "r4")} },
			"no path from r1 to r3 via [r4]: leg 1/2 (r1 -> r4): r1 and r4 are not connected, even with every link up"},
		{"second leg", line, "r1", "r3",
			func(t testing.TB, g *Graph) Constraints {
				return Constraints{Include: nids(t, g, "r2"), ExcludeLinks: lids(t, g, "r2--r3")}
			},
			"no path from r1 to r3 via [r2]: leg 2/2 (r2 -> r3): ExcludeLinks [r2--r3] cut r2 off from r3"},
		{"long lists are cut short", func(t testing.TB) *Graph {
			var ls []tl
			for range 8 {
				ls = append(ls, tl{"a", "b", 1, 1})
			}
			return mk(t, "a b", ls...)
		}, "a", "b",
			func(t testing.TB, g *Graph) Constraints {
				return Constraints{ExcludeLinks: lids(t, g, "a--b a--b#2 a--b#3 a--b#4 a--b#5 a--b#6 a--b#7 a--b#8")}
			},
			"no path from a to b: ExcludeLinks [a--b a--b#2 a--b#3 a--b#4 a--b#5 a--b#6 +2 more] cut a off from b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g(t)
			var c Constraints
			if tt.c != nil {
				c = tt.c(t, g)
			}
			p, err := g.Compute(nid(t, g, tt.src), nid(t, g, tt.dst), c)
			if !errors.Is(err, ErrNoPath) {
				t.Fatalf("Compute = %s, %v; want ErrNoPath", show(g, p), err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestBracket(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for n, want := range map[int]string{0: "[]", 1: "[a]", 6: "[a b c d e f]", 8: "[a b c d e f +2 more]"} {
		if got := bracket(n, func(i int) string { return names[i] }); got != want {
			t.Errorf("bracket(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestComputeInvalid(t *testing.T) {
	g := ring6(t)
	r1, r4 := nid(t, g, "r1"), nid(t, g, "r4")
	tests := []struct {
		name     string
		src, dst NodeID
		c        Constraints
		want     string
	}{
		{"unknown metric", r1, r4, Constraints{Metric: "bandwidth"}, `unknown metric "bandwidth"`},
		{"source out of range", 6, r4, Constraints{}, "source: node 6 is not in the graph (6 nodes)"},
		{"negative destination", r1, -1, Constraints{}, "destination: node -1 is not in the graph"},
		{"bad waypoint", r1, r4, Constraints{Include: []NodeID{99}}, "Include: node 99"},
		{"bad excluded node", r1, r4, Constraints{ExcludeNodes: []NodeID{99}}, "ExcludeNodes: node 99"},
		{"bad disjoint node", r1, r4, Constraints{DisjointNodes: []NodeID{99}}, "DisjointNodes: node 99"},
		{"bad excluded link", r1, r4, Constraints{ExcludeLinks: []LinkID{6}}, "ExcludeLinks: link 6 is not in the graph (6 links)"},
		{"bad disjoint link", r1, r4, Constraints{DisjointLinks: []LinkID{-1}}, "DisjointLinks: link -1"},
		{"source excluded", r1, r4, Constraints{ExcludeNodes: []NodeID{r1}}, "source r1 is in ExcludeNodes"},
		{"destination excluded", r1, r4, Constraints{ExcludeNodes: []NodeID{r4}}, "destination r4 is in ExcludeNodes"},
		{"waypoint excluded", r1, r4, Constraints{Include: nids(t, g, "r2 r3"), ExcludeNodes: nids(t, g, "r3")}, "waypoint r3 (Include[1]) is in ExcludeNodes"},
		{"waypoint in DisjointNodes", r1, r4, Constraints{Include: nids(t, g, "r3"), DisjointNodes: nids(t, g, "r1 r3 r4")}, "waypoint r3 (Include[0]) is in DisjointNodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.Compute(tt.src, tt.dst, tt.c)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compute error = %v; want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}
