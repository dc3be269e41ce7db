package pathcomp

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// walk builds a path from node and link names: "r1 r2 r3" and, where a
// parallel link matters, the link names in order ("" = the only link).
func walk(t testing.TB, g *Graph, nodes string, links ...string) Path {
	t.Helper()
	p := Path{Nodes: nids(t, g, nodes)}
	for i := 1; i < len(p.Nodes); i++ {
		if i-1 < len(links) && links[i-1] != "" {
			p.Links = append(p.Links, lid(t, g, links[i-1]))
			continue
		}
		a, b := p.Nodes[i-1], p.Nodes[i]
		l, ok := g.LinkByName(g.name(a) + "--" + g.name(b))
		if !ok {
			l = lid(t, g, g.name(b)+"--"+g.name(a))
		}
		p.Links = append(p.Links, l)
	}
	return p
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name   string
		g      func(testing.TB) *Graph
		path   func(t testing.TB, g *Graph) Path
		perHop bool
		want   string // FormatSegments
	}{
		{name: "line: destination only", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2 r3 r4", tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0}, tl{"r3", "r4", 1, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r2 r3 r4") }, want: "[r4]"},
		{name: "line per hop", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2 r3 r4", tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0}, tl{"r3", "r4", 1, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r2 r3 r4") }, perHop: true, want: "[r2 r3 r4]"},
		{name: "triangle: policy takes the 2-hop path", g: tri,
			path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r2 r3") }, want: "[r2 r3]"},
		{name: "ECMP square needs the middle node", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2 r3 r4", tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0}, tl{"r3", "r4", 1, 0}, tl{"r4", "r1", 1, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r2 r3") }, want: "[r2 r3]"},
		{name: "ECMP square, other side", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2 r3 r4", tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0}, tl{"r3", "r4", 1, 0}, tl{"r4", "r1", 1, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r4 r3") }, want: "[r4 r3]"},
		{name: "worse parallel link at the source: adjacency", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2", tl{"r1", "r2", 1, 0}, tl{"r1", "r2", 5, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r2", "r1--r2#2") }, want: "[r1.X(r1--r2#2) r2]"},
		{name: "better parallel link: node segment", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2", tl{"r1", "r2", 5, 0}, tl{"r1", "r2", 1, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r2", "r1--r2#2") }, want: "[r2]"},
		{name: "equal parallel links are ECMP: adjacency", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2", tl{"r1", "r2", 1, 0}, tl{"r1", "r2", 1, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r2", "r1--r2") }, want: "[r1.X(r1--r2) r2]"},
		{name: "worse parallel link mid-path: adjacency replaces the node segment", g: func(t testing.TB) *Graph {
			return mk(t, "r0 r1 r2 r3", tl{"r0", "r1", 1, 0}, tl{"r1", "r2", 1, 0}, tl{"r1", "r2", 5, 0}, tl{"r2", "r3", 1, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r0 r1 r2 r3", "", "r1--r2#2") }, want: "[r1.X(r1--r2#2) r3]"},
		{name: "adjacency after adjacency", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2 r3", tl{"r1", "r2", 1, 0}, tl{"r1", "r2", 5, 0}, tl{"r2", "r3", 1, 0}, tl{"r2", "r3", 5, 0})
		}, path: func(t testing.TB, g *Graph) Path {
			return walk(t, g, "r1 r2 r3", "r1--r2#2", "r2--r3#2")
		}, want: "[r1.X(r1--r2#2) r2.X(r2--r3#2) r3]"},
		{name: "cheaper detour: adjacency over the direct link", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2 r3", tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0}, tl{"r1", "r3", 10, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r3") }, want: "[r1.X(r1--r3) r3]"},
		{name: "per hop does not pin the link", g: func(t testing.TB) *Graph {
			return mk(t, "r1 r2 r3", tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0}, tl{"r1", "r3", 10, 0})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r3") }, perHop: true, want: "[r3]"},
		{name: "revisit: waypoints r3 then r5 on a ring", g: ring6, path: func(t testing.TB, g *Graph) Path {
			p, err := g.Compute(nid(t, g, "r1"), nid(t, g, "r4"), Constraints{Include: nids(t, g, "r3 r5")})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}, want: "[r3 r5 r4]"},
		{name: "down link shifts the shortest paths", g: func(t testing.TB) *Graph {
			// With r1--r3 down, r1 r2 r3 is the unique shortest path.
			g := mk(t, "r1 r2 r3", tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0}, tl{"r1", "r3", 1, 0})
			return g.WithLinkState(map[LinkID]bool{lid(t, g, "r1--r3"): false})
		}, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r1 r2 r3") }, want: "[r3]"},
		{name: "src == dst", g: ring6, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r2") }, want: "[r2]"},
		{name: "src == dst per hop", g: ring6, path: func(t testing.TB, g *Graph) Path { return walk(t, g, "r2") }, perHop: true, want: "[r2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g(t)
			p := tt.path(t, g)
			segs, err := g.Segments(p, tt.perHop)
			if err != nil {
				t.Fatalf("Segments: %v", err)
			}
			if got := g.FormatSegments(segs); got != tt.want {
				t.Errorf("Segments(%s, perHop %v) = %s, want %s", show(g, p), tt.perHop, got, tt.want)
			}
			if tt.perHop {
				return // per hop does not promise to force the path
			}
			back, err := g.Expand(p.Nodes[0], segs)
			if err != nil {
				t.Fatalf("Expand: %v", err)
			}
			if !slices.Equal(back.Nodes, p.Nodes) || !slices.Equal(back.Links, p.Links) {
				t.Errorf("Expand(%s) = %s, want %s", g.FormatSegments(segs), show(g, back), show(g, p))
			}
		})
	}
}

func TestSegmentsInvalidPath(t *testing.T) {
	g := mk(t, "r1 r2 r3", tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0})
	l12, l23 := lid(t, g, "r1--r2"), lid(t, g, "r2--r3")
	r1, r2, r3 := nid(t, g, "r1"), nid(t, g, "r2"), nid(t, g, "r3")
	tests := []struct {
		name string
		g    *Graph
		p    Path
		want string
	}{
		{"empty", g, Path{}, "no nodes"},
		{"too few links", g, Path{Nodes: []NodeID{r1, r2, r3}, Links: []LinkID{l12}}, "3 nodes need 2 links, not 1"},
		{"bad node", g, Path{Nodes: []NodeID{r1, 7}, Links: []LinkID{l12}}, "Nodes[1] = 7 is not in the graph"},
		{"bad link", g, Path{Nodes: []NodeID{r1, r2}, Links: []LinkID{9}}, "Links[0] = 9 is not in the graph"},
		{"link elsewhere", g, Path{Nodes: []NodeID{r1, r2}, Links: []LinkID{l23}}, "Links[0] r2--r3 does not join r1 and r2"},
		{"down link", g.WithLinkState(map[LinkID]bool{l23: false}), Path{Nodes: []NodeID{r3, r2}, Links: []LinkID{l23}}, "Links[0] r2--r3 is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, perHop := range []bool{false, true} {
				if _, err := tt.g.Segments(tt.p, perHop); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Segments(perHop %v) error = %v; want ErrInvalid containing %q", perHop, err, tt.want)
				}
			}
		})
	}
}

func TestExpand(t *testing.T) {
	square := mk(t, "r1 r2 r3 r4", tl{"r1", "r2", 1, 0}, tl{"r2", "r3", 1, 0}, tl{"r3", "r4", 1, 0}, tl{"r4", "r1", 1, 0})
	r1, r2, r3 := nid(t, square, "r1"), nid(t, square, "r2"), nid(t, square, "r3")
	l12, l23, l34 := lid(t, square, "r1--r2"), lid(t, square, "r2--r3"), lid(t, square, "r3--r4")
	split := square.WithLinkState(map[LinkID]bool{l12: false, lid(t, square, "r4--r1"): false})
	tests := []struct {
		name    string
		g       *Graph
		segs    []Segment
		want    string // show() of the path; "" = an error is wanted
		cost    uint64
		wantErr error
		errText string
	}{
		{name: "no segments", g: square, want: "r1"},
		{name: "node segments", g: square, segs: []Segment{NodeSegment(r2), NodeSegment(r3)}, want: "r1 r2 r3", cost: 2},
		{name: "adjacency routes to its node first", g: square, segs: []Segment{AdjSegment(r2, l23)}, want: "r1 r2 r3", cost: 2},
		{name: "own node segment is a no-op", g: square, segs: []Segment{NodeSegment(r1), NodeSegment(r2), NodeSegment(r2)}, want: "r1 r2", cost: 1},
		{name: "ECMP is ambiguous", g: square, segs: []Segment{NodeSegment(r3)},
			wantErr: ErrAmbiguous, errText: "expand [r3] from r1: segment 0 (r3): ambiguous ECMP forwarding: several equal-cost shortest paths from r1 to r3"},
		{name: "adjacency not at its node", g: square, segs: []Segment{AdjSegment(r1, l34)},
			wantErr: ErrInvalid, errText: "link r3--r4 does not end at r1"},
		{name: "bad node", g: square, segs: []Segment{NodeSegment(42)}, wantErr: ErrInvalid, errText: "node 42 is not in the graph"},
		{name: "bad link", g: square, segs: []Segment{AdjSegment(r1, 42)}, wantErr: ErrInvalid, errText: "link 42 is not in the graph"},
		{name: "unreachable", g: split, segs: []Segment{NodeSegment(r3)}, wantErr: ErrNoPath, errText: "r3 is unreachable from r1 over up links"},
		{name: "down adjacency", g: split, segs: []Segment{AdjSegment(r1, l12)}, wantErr: ErrNoPath, errText: "adjacency link r1--r2 is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.g.Expand(r1, tt.segs)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Expand = %s, %v; want %v containing %q", show(tt.g, p), err, tt.wantErr, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expand: %v", err)
			}
			if got := show(tt.g, p); got != tt.want || p.Cost != tt.cost {
				t.Errorf("Expand = %s (cost %d), want %s (cost %d)", got, p.Cost, tt.want, tt.cost)
			}
		})
	}
	if _, err := square.Expand(-1, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Expand from node -1: %v", err)
	}
}
