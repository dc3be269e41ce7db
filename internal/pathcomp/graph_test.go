package pathcomp

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNewGraphValidates(t *testing.T) {
	nodes := []Node{{Name: "r1"}, {Name: "r2"}}
	ok := Link{Name: "r1--r2", A: 0, B: 1, IGP: 1, Up: true}
	tests := []struct {
		name  string
		nodes []Node
		links []Link
		want  string // error substring; "" = valid
	}{
		{"valid", nodes, []Link{ok}, ""},
		{"empty graph", nil, nil, ""},
		{"parallel links", nodes, []Link{ok, {Name: "r1--r2#2", A: 1, B: 0, IGP: 3}}, ""},
		{"unnamed node", []Node{{Name: "r1"}, {}}, nil, "node 1 has no name"},
		{"duplicate node", []Node{{Name: "r1"}, {Name: "r1"}}, nil, `nodes 0 and 1 are both called "r1"`},
		{"unnamed link", nodes, []Link{{A: 0, B: 1, IGP: 1}}, "link 0 has no name"},
		{"duplicate link", nodes, []Link{ok, ok}, `links 0 and 1 are both called "r1--r2"`},
		{"endpoint too big", nodes, []Link{{Name: "x", A: 0, B: 2, IGP: 1}}, `link "x": endpoint 2 is not a node (there are 2)`},
		{"negative endpoint", nodes, []Link{{Name: "x", A: -1, B: 1, IGP: 1}}, `link "x": endpoint -1 is not a node`},
		{"self loop", nodes, []Link{{Name: "x", A: 1, B: 1, IGP: 1}}, `link "x" joins r2 to itself`},
		{"IGP 0", nodes, []Link{{Name: "x", A: 0, B: 1}}, `link "x" has IGP metric 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGraph(tt.nodes, tt.links)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewGraph: %v", err)
				}
				if g.NumNodes() != len(tt.nodes) || g.NumLinks() != len(tt.links) {
					t.Errorf("NumNodes, NumLinks = %d, %d; want %d, %d", g.NumNodes(), g.NumLinks(), len(tt.nodes), len(tt.links))
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewGraph error = %v; want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestGraphAccessors(t *testing.T) {
	nodes := []Node{{Name: "r1"}, {Name: "r2"}}
	links := []Link{{Name: "r1--r2", A: 0, B: 1, IGP: 7, Latency: 30, Up: true}}
	g, err := NewGraph(nodes, links)
	if err != nil {
		t.Fatal(err)
	}
	// The graph owns copies: the caller may reuse its slices.
	nodes[0].Name, links[0].IGP = "changed", 99
	if id, ok := g.NodeByName("r2"); !ok || id != 1 {
		t.Errorf(`NodeByName("r2") = %d, %v`, id, ok)
	}
	if _, ok := g.NodeByName("changed"); ok {
		t.Error("NodeByName sees the caller's later edit")
	}
	if id, ok := g.LinkByName("r1--r2"); !ok || id != 0 {
		t.Errorf(`LinkByName("r1--r2") = %d, %v`, id, ok)
	}
	if _, ok := g.LinkByName("nope"); ok {
		t.Error(`LinkByName("nope") found something`)
	}
	if n := g.Node(0); n.Name != "r1" {
		t.Errorf("Node(0) = %+v", n)
	}
	if l := g.Link(0); l != (Link{Name: "r1--r2", A: 0, B: 1, IGP: 7, Latency: 30, Up: true}) {
		t.Errorf("Link(0) = %+v", l)
	}
	if o := g.Link(0).Other(1); o != 0 {
		t.Errorf("Other(1) = %d, want 0", o)
	}
}

func TestWithLinkState(t *testing.T) {
	g := ring6(t)
	l := lid(t, g, "r2--r3")
	down := g.WithLinkState(map[LinkID]bool{l: false})
	if !g.Link(l).Up {
		t.Error("WithLinkState changed the original graph")
	}
	if down.Link(l).Up {
		t.Error("copy: link still up")
	}
	if up := down.WithLinkState(map[LinkID]bool{l: true}); !up.Link(l).Up {
		t.Error("copy of copy: link not back up")
	}
	if down.NumNodes() != g.NumNodes() || down.NumLinks() != g.NumLinks() {
		t.Error("copy has a different shape")
	}
	defer func() {
		if recover() == nil {
			t.Error("out-of-range link id did not panic")
		}
	}()
	g.WithLinkState(map[LinkID]bool{LinkID(g.NumLinks()): false})
}

func TestGridGraph(t *testing.T) {
	g, err := GridGraph(3, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if g.NumNodes() != 12 || g.NumLinks() != 3*3+4*2 {
		t.Fatalf("3x4 grid has %d nodes, %d links", g.NumNodes(), g.NumLinks())
	}
	for id := range LinkID(g.NumLinks()) {
		l := g.Link(id)
		if l.IGP < 1 || l.IGP > 10 || l.Latency < 10 || l.Latency > 1000 || !l.Up {
			t.Errorf("link %s: IGP %d, latency %d, up %v", l.Name, l.IGP, l.Latency, l.Up)
		}
	}
	if _, ok := g.LinkByName("r1_2--r2_2"); !ok {
		t.Error("no vertical link r1_2--r2_2")
	}
	again, _ := GridGraph(3, 4, 1)
	other, _ := GridGraph(3, 4, 2)
	same, differ := true, false
	for id := range LinkID(g.NumLinks()) {
		same = same && g.Link(id) == again.Link(id)
		differ = differ || g.Link(id) != other.Link(id)
	}
	if !same || !differ {
		t.Errorf("same seed same graph: %v; other seed other graph: %v", same, differ)
	}
	if _, err := GridGraph(0, 3, 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("GridGraph(0, 3) error = %v", err)
	}
}

func TestHeapOrder(t *testing.T) {
	// Equal distances pop first in, first out: the tie rule rests on it.
	var h minHeap
	in := []struct {
		d uint64
		v NodeID
	}{{5, 1}, {3, 2}, {5, 3}, {3, 4}, {1, 5}, {5, 6}, {3, 7}, {9, 8}, {0, 9}}
	for _, e := range in {
		h.push(e.d, e.v)
	}
	var got []NodeID
	for len(h.e) > 0 {
		got = append(got, h.pop().v)
	}
	want := []NodeID{9, 5, 2, 4, 7, 1, 3, 6, 8}
	if !slices.Equal(got, want) {
		t.Errorf("pop order %v, want %v", got, want)
	}
}
