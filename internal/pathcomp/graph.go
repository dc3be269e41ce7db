package pathcomp

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// NodeID identifies a node: its index in the slice given to NewGraph.
type NodeID int32

// LinkID identifies a link: its index in the slice given to NewGraph.
type LinkID int32

// NoLink is the Adj of a node segment, and the predecessor link of a root.
const NoLink LinkID = -1

// ErrInvalid marks a request the graph cannot even consider: a bad graph,
// an id out of range, contradictory constraints, a malformed path.
var ErrInvalid = errors.New("invalid")

// Node is a router of the graph.
type Node struct {
	Name string
}

// Link is an undirected link between two nodes. Several links may join the
// same two nodes (parallel links); a link may not join a node to itself.
type Link struct {
	Name    string // e.g. "r1:eth1--r2:eth1"
	A, B    NodeID // undirected
	IGP     uint32 // IGP metric (>= 1)
	Latency uint32 // TE latency metric in microseconds (0 = unknown, counts as 0)
	Up      bool
}

// Other returns the end of l that is not n (l's A if n is neither end).
func (l Link) Other(n NodeID) NodeID {
	if l.A == n {
		return l.B
	}
	return l.A
}

// arc is one direction of a link, as stored in a node's adjacency list.
// The weights are copied in so the Dijkstra inner loop touches one slice.
type arc struct {
	to   NodeID
	link LinkID
	w    [numMetrics]uint32 // indexed by metric
}

// Graph is an immutable topology: nodes, links, adjacency lists in
// compressed (CSR) form and name indexes. Only the link states differ
// between a graph and the copies WithLinkState makes of it; everything
// else is shared.
type Graph struct {
	nodes  []Node
	links  []Link // Up as given to NewGraph; the live state is up
	up     []bool // per link
	off    []int32
	arcs   []arc // arcs of node n: arcs[off[n]:off[n+1]], by ascending link id
	nodeID map[string]NodeID
	linkID map[string]LinkID
	pool   *sync.Pool // of *scratch sized for this graph; shared by copies
}

// NewGraph checks and indexes a topology. Node and link names must be
// non-empty and unique, link endpoints must be distinct existing nodes and
// IGP metrics at least 1 (a zero metric would make shortest paths, and so
// segment lists, ambiguous in ways the IGP itself forbids).
func NewGraph(nodes []Node, links []Link) (*Graph, error) {
	if len(nodes) > math.MaxInt32 || 2*len(links) > math.MaxInt32 {
		return nil, fmt.Errorf("%w graph: %d nodes and %d links is more than int32 ids hold", ErrInvalid, len(nodes), len(links))
	}
	g := &Graph{
		nodes:  slices.Clone(nodes),
		links:  slices.Clone(links),
		up:     make([]bool, len(links)),
		off:    make([]int32, len(nodes)+1),
		arcs:   make([]arc, 2*len(links)),
		nodeID: make(map[string]NodeID, len(nodes)),
		linkID: make(map[string]LinkID, len(links)),
	}
	for i, n := range nodes {
		if n.Name == "" {
			return nil, fmt.Errorf("%w graph: node %d has no name", ErrInvalid, i)
		}
		if j, dup := g.nodeID[n.Name]; dup {
			return nil, fmt.Errorf("%w graph: nodes %d and %d are both called %q", ErrInvalid, j, i, n.Name)
		}
		g.nodeID[n.Name] = NodeID(i)
	}
	for i, l := range links {
		if l.Name == "" {
			return nil, fmt.Errorf("%w graph: link %d has no name", ErrInvalid, i)
		}
		if j, dup := g.linkID[l.Name]; dup {
			return nil, fmt.Errorf("%w graph: links %d and %d are both called %q", ErrInvalid, j, i, l.Name)
		}
		g.linkID[l.Name] = LinkID(i)
		for _, end := range []NodeID{l.A, l.B} {
			if end < 0 || int(end) >= len(nodes) {
				return nil, fmt.Errorf("%w graph: link %q: endpoint %d is not a node (there are %d)", ErrInvalid, l.Name, end, len(nodes))
			}
		}
		if l.A == l.B {
			return nil, fmt.Errorf("%w graph: link %q joins %s to itself", ErrInvalid, l.Name, nodes[l.A].Name)
		}
		if l.IGP == 0 {
			return nil, fmt.Errorf("%w graph: link %q has IGP metric 0; the minimum is 1", ErrInvalid, l.Name)
		}
		g.up[i] = l.Up
		g.off[l.A+1]++
		g.off[l.B+1]++
	}
	for n := range nodes {
		g.off[n+1] += g.off[n]
	}
	// Fill in link order so every adjacency list is sorted by link id: the
	// tie-breaking rule depends on it.
	next := slices.Clone(g.off[:len(nodes)])
	for i, l := range links {
		w := [numMetrics]uint32{metricIGP: l.IGP, metricHops: 1, metricLatency: l.Latency}
		g.arcs[next[l.A]] = arc{to: l.B, link: LinkID(i), w: w}
		next[l.A]++
		g.arcs[next[l.B]] = arc{to: l.A, link: LinkID(i), w: w}
		next[l.B]++
	}
	n, m := len(nodes), len(links)
	g.pool = &sync.Pool{New: func() any { return newScratch(n, m) }}
	return g, nil
}

// WithLinkState returns a copy of g in which each link of up is set up or
// down as given; other links keep their state. The copy shares all
// structure with g but the link states (one bool per link), so it is cheap
// enough to make per failure scenario. A link id out of range panics, as
// an index would.
func (g *Graph) WithLinkState(up map[LinkID]bool) *Graph {
	c := *g
	c.up = slices.Clone(g.up)
	for l, u := range up {
		if l < 0 || int(l) >= len(c.up) {
			panic(fmt.Sprintf("pathcomp: WithLinkState: link %d out of range [0,%d)", l, len(c.up)))
		}
		c.up[l] = u
	}
	return &c
}

// NodeByName returns the id of the node called name.
func (g *Graph) NodeByName(name string) (NodeID, bool) {
	id, ok := g.nodeID[name]
	return id, ok
}

// LinkByName returns the id of the link called name.
func (g *Graph) LinkByName(name string) (LinkID, bool) {
	id, ok := g.linkID[name]
	return id, ok
}

// Node returns node id; it panics if id is out of range.
func (g *Graph) Node(id NodeID) Node { return g.nodes[id] }

// Link returns link id with its state in g; it panics if id is out of range.
func (g *Graph) Link(id LinkID) Link {
	l := g.links[id]
	l.Up = g.up[id]
	return l
}

// NumNodes is the number of nodes; ids run from 0 to NumNodes()-1.
func (g *Graph) NumNodes() int { return len(g.nodes) }

// NumLinks is the number of links; ids run from 0 to NumLinks()-1.
func (g *Graph) NumLinks() int { return len(g.links) }

func (g *Graph) validNode(n NodeID) bool { return n >= 0 && int(n) < len(g.nodes) }
func (g *Graph) validLink(l LinkID) bool { return l >= 0 && int(l) < len(g.links) }

// name is a node's name for messages, tolerating bad ids.
func (g *Graph) name(n NodeID) string {
	if !g.validNode(n) {
		return fmt.Sprintf("node#%d", n)
	}
	return g.nodes[n].Name
}

// linkName is a link's name for messages, tolerating bad ids.
func (g *Graph) linkName(l LinkID) string {
	if !g.validLink(l) {
		return fmt.Sprintf("link#%d", l)
	}
	return g.links[l].Name
}

// scratch is the per-call working memory of a search. It lives in the
// graph's pool rather than in the graph so concurrent calls never share it.
type scratch struct {
	dist    []uint64
	prev    []LinkID // link a node was reached by; NoLink for the root
	done    []bool
	cnt     []uint8 // shortest-path counts capped at 2 (segment searches only)
	banNode []bool
	banLink []bool // excluded or down
	heap    minHeap
	touched []NodeID // nodes whose dist is set: what the next search resets
	links   []LinkID // buffer for reversing a leg
}

// newScratch returns scratch in the clean state every search starts from
// (all distances infinite); searches then reset only what they touched, so
// a short search on a big graph stays cheap.
func newScratch(n, m int) *scratch {
	s := &scratch{
		dist:    make([]uint64, n),
		prev:    make([]LinkID, n),
		done:    make([]bool, n),
		cnt:     make([]uint8, n),
		banNode: make([]bool, n),
		banLink: make([]bool, m),
		heap:    minHeap{e: make([]entry, 0, 64)},
	}
	for i := range s.dist {
		s.dist[i] = math.MaxUint64
	}
	return s
}

func (g *Graph) getScratch() *scratch  { return g.pool.Get().(*scratch) }
func (g *Graph) putScratch(s *scratch) { g.pool.Put(s) }

// banDown resets the bans to the down links only, the view of the network
// the IGP has; with ignoreState, to nothing at all (every link counts as up).
func (g *Graph) banDown(s *scratch, ignoreState bool) {
	clear(s.banNode)
	if ignoreState {
		clear(s.banLink)
		return
	}
	for l, u := range g.up {
		s.banLink[l] = !u
	}
}

// entry is a heap element: a tentative distance for node v. seq is the
// push order, so nodes at equal distance pop first-in first-out.
type entry struct {
	d   uint64
	seq uint32
	v   NodeID
}

// minHeap is a binary heap of entries with lazy deletion (stale entries are
// skipped when popped). It is typed rather than built on container/heap
// because boxing every push into an interface costs an allocation, and a
// 10k-node search pushes tens of thousands of times.
type minHeap struct {
	e   []entry
	seq uint32
}

func (h *minHeap) reset() { h.e, h.seq = h.e[:0], 0 }

func (h *minHeap) less(i, j int) bool {
	if h.e[i].d != h.e[j].d {
		return h.e[i].d < h.e[j].d
	}
	return h.e[i].seq < h.e[j].seq
}

func (h *minHeap) push(d uint64, v NodeID) {
	h.e = append(h.e, entry{d: d, seq: h.seq, v: v})
	h.seq++
	for i := len(h.e) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.e[i], h.e[p] = h.e[p], h.e[i]
		i = p
	}
}

func (h *minHeap) pop() entry {
	top := h.e[0]
	last := len(h.e) - 1
	h.e[0] = h.e[last]
	h.e = h.e[:last]
	for i := 0; ; {
		c := 2*i + 1
		if c >= last {
			break
		}
		if c+1 < last && h.less(c+1, c) {
			c++
		}
		if !h.less(c, i) {
			break
		}
		h.e[i], h.e[c] = h.e[c], h.e[i]
		i = c
	}
	return top
}
