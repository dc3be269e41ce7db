package pathcomp

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrAmbiguous means forwarding a segment list hits equal-cost multipath:
// the network may take either path, so the list does not force one.
var ErrAmbiguous = errors.New("ambiguous ECMP forwarding")

// Segment is one SRv6 segment of a list.
type Segment struct {
	Node NodeID // the node whose SID this is
	Adj  LinkID // NoLink (-1) for a node SID (End); otherwise an adjacency SID (End.X) of Node over link Adj
}

// NodeSegment is the node SID (End) of n.
func NodeSegment(n NodeID) Segment { return Segment{Node: n, Adj: NoLink} }

// AdjSegment is the adjacency SID (End.X) of n over link l.
func AdjSegment(n NodeID, l LinkID) Segment { return Segment{Node: n, Adj: l} }

// Segments returns a segment list that forces a packet from p's source
// along p, for a network whose routing is the IGP shortest path over up
// links. p must be a walk over up links of g (as Compute returns on the
// same graph).
//
// With perHop, the list is the node segment of every node after the
// source, verbatim: it names the path's nodes but does not pin links, so
// it only forces p where every link is its ends' unique shortest path.
//
// Otherwise the list is compressed, greedily from the source:
//
//   - From an anchor (first the source) it finds the farthest path node v
//     such that the path from the anchor to v is the unique IGP shortest
//     path between them; shortest-path counts are capped at 2, so ECMP is
//     never trusted. If v is past the anchor, the next segment is v's node
//     SID and v the next anchor.
//   - If not even the next link is the unique shortest path to the next
//     node (a cheaper parallel link or detour, or an equal-cost
//     alternative), the next segment is the adjacency SID of the anchor
//     over that link, and the link's far end is the next anchor.
//
// An adjacency SID, like every SID of a node, lies in the node's locator,
// which the IGP routes to the node: a packet carrying it is forwarded to the
// anchor by the unique shortest path, and the anchor then sends it over the
// link. So the anchor needs no node segment of its own before its
// adjacency: when the anchor was reached by a node segment, that segment is
// replaced by the adjacency (same route to the anchor, one segment fewer);
// when the anchor is the source, or was reached over a previous adjacency,
// the packet is already there and processes its own SID locally.
//
// Either way, the list always ends with the destination's node segment,
// which the caller replaces by the destination's service SID: when the
// last step is an adjacency landing on the destination, its node segment is
// still appended (the packet is already there; the SID is processed
// locally). A path with no links gives just that segment.
func (g *Graph) Segments(p Path, perHop bool) ([]Segment, error) {
	if err := g.checkPath(p); err != nil {
		return nil, err
	}
	dst := p.Nodes[len(p.Nodes)-1]
	if len(p.Links) == 0 {
		return []Segment{NodeSegment(dst)}, nil
	}
	if perHop {
		segs := make([]Segment, len(p.Links))
		for i, n := range p.Nodes[1:] {
			segs[i] = NodeSegment(n)
		}
		return segs, nil
	}
	s := g.getScratch()
	defer g.putScratch(s)
	g.banDown(s, false)
	var segs []Segment
	for i := 0; i < len(p.Links); {
		if j := g.reach(s, p, i); j > i {
			segs = append(segs, NodeSegment(p.Nodes[j]))
			i = j
			continue
		}
		adj := AdjSegment(p.Nodes[i], p.Links[i])
		if n := len(segs); n > 0 && segs[n-1] == NodeSegment(p.Nodes[i]) {
			segs[n-1] = adj // the adjacency SID routes to the anchor by itself
		} else {
			segs = append(segs, adj)
		}
		i++
	}
	if segs[len(segs)-1] != NodeSegment(dst) {
		segs = append(segs, NodeSegment(dst))
	}
	return segs, nil
}

// reach returns the largest j >= i such that p.Nodes[i..j] is the unique IGP
// shortest path from p.Nodes[i] to p.Nodes[j] (j == i: not even one link
// is). Uniqueness is monotone along a path, since part of a unique shortest
// path is one too, so the scan stops at the first failure, and the search
// settles no node farther than the path cost reached so far.
func (g *Graph) reach(s *scratch, p Path, i int) int {
	g.sptStart(s, p.Nodes[i])
	var cost uint64
	for j := i; j < len(p.Links); j++ {
		cost += uint64(g.links[p.Links[j]].IGP)
		v := p.Nodes[j+1]
		g.sptSettle(s, v, cost)
		// The path to v costs `cost`; it is the unique shortest iff that is
		// v's distance and only one shortest path exists.
		if !s.done[v] || s.dist[v] != cost || s.cnt[v] != 1 {
			return j
		}
	}
	return len(p.Links)
}

// sptStart starts an incremental IGP shortest-path search from root that
// also counts shortest paths per node, capped at 2 (unique or not is all
// that matters). Links banned in s are skipped; node bans are not used.
func (g *Graph) sptStart(s *scratch, root NodeID) {
	s.start(root)
	s.cnt[root] = 1
}

// sptSettle continues the search until target is settled or every node
// within bound is. A settled node's count is final: every shortest path to
// it arrives from a strictly closer node (IGP >= 1), settled before it.
func (g *Graph) sptSettle(s *scratch, target NodeID, bound uint64) {
	for !s.done[target] && len(s.heap.e) > 0 && s.heap.e[0].d <= bound {
		e := s.heap.pop()
		u := e.v
		if s.done[u] {
			continue
		}
		s.done[u] = true
		for _, a := range g.arcs[g.off[u]:g.off[u+1]] {
			v := a.to
			if s.done[v] || s.banLink[a.link] {
				continue
			}
			switch d := e.d + uint64(a.w[metricIGP]); {
			case d < s.dist[v]:
				s.set(v, d, a.link)
				s.cnt[v] = s.cnt[u]
			case d == s.dist[v]:
				s.cnt[v] = min(2, s.cnt[v]+s.cnt[u])
			}
		}
	}
}

// Expand simulates forwarding a packet from src through segs, where the
// network routes every SID to its node along the IGP shortest path over up
// links: a node segment moves the packet to its node, an adjacency segment
// moves it to its node and then over its link. It returns the path taken,
// with Cost in IGP. Reaching a SID over equal-cost paths is an error
// wrapping ErrAmbiguous: the list would not force a single path.
func (g *Graph) Expand(src NodeID, segs []Segment) (Path, error) {
	if !g.validNode(src) {
		return Path{}, fmt.Errorf("%w expand: source %d is not in the graph (%d nodes)", ErrInvalid, src, len(g.nodes))
	}
	s := g.getScratch()
	defer g.putScratch(s)
	g.banDown(s, false)
	p := Path{Nodes: []NodeID{src}}
	for k, sg := range segs {
		if err := g.expand(s, &p, sg); err != nil {
			return Path{}, fmt.Errorf("expand %s from %s: segment %d (%s): %w", g.FormatSegments(segs), g.name(src), k, g.segmentName(sg), err)
		}
	}
	return p, nil
}

// expand moves p's packet through one segment.
func (g *Graph) expand(s *scratch, p *Path, sg Segment) error {
	if !g.validNode(sg.Node) {
		return fmt.Errorf("%w: node %d is not in the graph", ErrInvalid, sg.Node)
	}
	if sg.Adj != NoLink {
		if !g.validLink(sg.Adj) {
			return fmt.Errorf("%w: link %d is not in the graph", ErrInvalid, sg.Adj)
		}
		if l := g.links[sg.Adj]; l.A != sg.Node && l.B != sg.Node {
			return fmt.Errorf("%w: link %s does not end at %s", ErrInvalid, l.Name, g.name(sg.Node))
		}
	}
	from := p.Nodes[len(p.Nodes)-1]
	if from != sg.Node {
		g.sptStart(s, from)
		g.sptSettle(s, sg.Node, math.MaxUint64)
		switch {
		case !s.done[sg.Node]:
			return fmt.Errorf("%w: %s is unreachable from %s over up links", ErrNoPath, g.name(sg.Node), g.name(from))
		case s.cnt[sg.Node] > 1:
			return fmt.Errorf("%w: several equal-cost shortest paths from %s to %s", ErrAmbiguous, g.name(from), g.name(sg.Node))
		}
		p.Cost += s.dist[sg.Node]
		g.appendLeg(s, p, from, sg.Node)
	}
	if sg.Adj != NoLink {
		if !g.up[sg.Adj] {
			return fmt.Errorf("%w: adjacency link %s is down", ErrNoPath, g.links[sg.Adj].Name)
		}
		p.Links = append(p.Links, sg.Adj)
		p.Nodes = append(p.Nodes, g.links[sg.Adj].Other(sg.Node))
		p.Cost += uint64(g.links[sg.Adj].IGP)
	}
	return nil
}

// checkPath rejects a path that is not a walk over up links of g.
func (g *Graph) checkPath(p Path) error {
	if len(p.Nodes) == 0 {
		return fmt.Errorf("%w path: no nodes", ErrInvalid)
	}
	if len(p.Links) != len(p.Nodes)-1 {
		return fmt.Errorf("%w path: %d nodes need %d links, not %d", ErrInvalid, len(p.Nodes), len(p.Nodes)-1, len(p.Links))
	}
	for i, n := range p.Nodes {
		if !g.validNode(n) {
			return fmt.Errorf("%w path: Nodes[%d] = %d is not in the graph (%d nodes)", ErrInvalid, i, n, len(g.nodes))
		}
	}
	for i, l := range p.Links {
		if !g.validLink(l) {
			return fmt.Errorf("%w path: Links[%d] = %d is not in the graph (%d links)", ErrInvalid, i, l, len(g.links))
		}
		a, b := p.Nodes[i], p.Nodes[i+1]
		if k := g.links[l]; !(k.A == a && k.B == b || k.A == b && k.B == a) {
			return fmt.Errorf("%w path: Links[%d] %s does not join %s and %s", ErrInvalid, i, k.Name, g.name(a), g.name(b))
		}
		if !g.up[l] {
			return fmt.Errorf("%w path: Links[%d] %s is down", ErrInvalid, i, g.links[l].Name)
		}
	}
	return nil
}

// FormatSegments writes a list as "[r2 r3.X(r3:eth1--r4:eth1) r4]" for
// messages and logs.
func (g *Graph) FormatSegments(segs []Segment) string {
	names := make([]string, len(segs))
	for i, sg := range segs {
		names[i] = g.segmentName(sg)
	}
	return "[" + strings.Join(names, " ") + "]"
}

func (g *Graph) segmentName(sg Segment) string {
	if sg.Adj == NoLink {
		return g.name(sg.Node)
	}
	return g.name(sg.Node) + ".X(" + g.linkName(sg.Adj) + ")"
}
