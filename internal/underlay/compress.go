package underlay

import (
	"math/bits"
	"net/netip"
	"slices"

	"github.com/sr6net/sr6/internal/topo"
)

// The static underlay is the minimum routing table of each router, built
// with ORTC (Draves, King, Venkatachary and Zill, "Constructing optimal IP
// routing tables", INFOCOM 1999) over a binary trie of the destination
// prefixes. The destinations (and so the trie) are the same for every
// router: the skeleton is built once per network, and each router runs two
// passes over its arrays.
//
// For one router, a destination's candidate set is every interface that
// starts a shortest path to its nearest owner (the ECMP set, not only the
// file-order first hop). Addresses no destination covers are don't-care,
// and so are the destinations the router owns (its loopback, locator, link
// subnets and the prefixes of the SRv6 nodes hanging off it): the kernel
// holds a local, unreachable, connected or attached route exactly there,
// more specific than any aggregate. Unreachable destinations are don't-care
// too (the graph is split; nothing routes them anyway).
//
// Bottom-up, a node's set is the intersection of its children's if it is
// not empty, else their union (a missing child is don't-care); top-down, a
// node gets a route only when the next hop it inherits is not in its set.
// Every destination then resolves, by longest-prefix match, to a next hop
// in its candidate set, with the fewest routes any table can have.
//
// Destination prefixes never overlap in a planned network (topo.Plan
// refuses it), but StaticUp does not rely on it: the addresses of a
// destination not covered by a more specific one must use that
// destination's next hops, so below a covering destination the holes are
// constrained to its set (or to the kernel's own route when the router owns
// it) instead of being don't-care.

// skeleton is the path-compressed binary trie of a network's destination
// prefixes, in preorder: a node's descendants follow it, so a forward walk
// is top-down and a backward one bottom-up.
type skeleton struct {
	prefix []netip.Prefix
	parent []int32    // -1 for a root (one root per address family)
	child  [][2]int32 // -1 when missing
	dest   []int32    // index into dests, or -1 for a branching node
	cover  []int32    // nearest strict ancestor that is a destination, or -1

	dests  []netip.Prefix
	owners [][]int32 // per destination: graph indexes of the underlay nodes it is attached to
}

// radix is the pointer trie newSkeleton builds before flattening it.
type radix struct {
	prefix netip.Prefix
	child  [2]*radix
	dest   int32
}

func bitAt(a netip.Addr, i int) int {
	b := a.As16()
	if a.Is4() {
		i += 96
	}
	return int(b[i/8]>>(7-i%8)) & 1
}

// commonBits is the length of the longest prefix a and b share, at most n.
func commonBits(a, b netip.Addr, n int) int {
	x, y := a.As16(), b.As16()
	off := 0
	if a.Is4() {
		off = 96
	}
	l := 0 // from the first bit of the family's address
	for i := off / 8; i < 16; i++ {
		if d := x[i] ^ y[i]; d != 0 {
			l += bits.LeadingZeros8(d)
			break
		}
		l += 8
	}
	return min(l, n)
}

func (t *radix) insert(p netip.Prefix, dest int32) {
	n := t
	for {
		if n.prefix == p {
			n.dest = dest
			return
		}
		b := bitAt(p.Addr(), n.prefix.Bits())
		c := n.child[b]
		switch {
		case c == nil:
			n.child[b] = &radix{prefix: p, dest: dest}
			return
		case c.prefix.Bits() <= p.Bits() && c.prefix.Contains(p.Addr()):
			n = c
			continue
		case p.Bits() < c.prefix.Bits() && p.Contains(c.prefix.Addr()):
			nn := &radix{prefix: p, dest: dest}
			nn.child[bitAt(c.prefix.Addr(), p.Bits())] = c
			n.child[b] = nn
			return
		default:
			l := commonBits(p.Addr(), c.prefix.Addr(), min(p.Bits(), c.prefix.Bits()))
			q := &radix{prefix: netip.PrefixFrom(p.Addr(), l).Masked(), dest: -1}
			q.child[bitAt(p.Addr(), l)] = &radix{prefix: p, dest: dest}
			q.child[bitAt(c.prefix.Addr(), l)] = c
			n.child[b] = q
			return
		}
	}
}

// newSkeleton builds the trie of the destinations of nw, each owned by the
// underlay nodes owners lists (as indexes of g).
func newSkeleton(dests []netip.Prefix, owners [][]int32) *skeleton {
	roots := []*radix{
		{prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0), dest: -1},
		{prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0), dest: -1},
	}
	for i, p := range dests {
		r := roots[0]
		if p.Addr().Is4() {
			r = roots[1]
		}
		r.insert(p.Masked(), int32(i))
	}
	s := &skeleton{dests: dests, owners: owners}
	var walk func(n *radix, parent, cover int32) int32
	walk = func(n *radix, parent, cover int32) int32 {
		i := int32(len(s.prefix))
		s.prefix = append(s.prefix, n.prefix)
		s.parent = append(s.parent, parent)
		s.child = append(s.child, [2]int32{-1, -1})
		s.dest = append(s.dest, n.dest)
		s.cover = append(s.cover, cover)
		below := cover
		if n.dest >= 0 {
			below = i
		}
		for b, c := range n.child {
			if c != nil {
				s.child[i][b] = walk(c, i, below)
			}
		}
		return i
	}
	for _, r := range roots {
		// A family's root is the longest prefix common to its
		// destinations: a route is never placed on address space wider
		// than the destinations span.
		for r != nil && r.dest < 0 {
			c0, c1 := r.child[0], r.child[1]
			if c0 != nil && c1 != nil {
				break
			}
			r = c0
			if c0 == nil {
				r = c1
			}
		}
		if r == nil {
			continue // no destination of this family
		}
		walk(r, -1, -1)
	}
	return s
}

// graph is the live underlay as arrays: node i is routers[i], adj[i] its
// usable interfaces in file order.
type graph struct {
	routers []*topo.Node
	index   map[*topo.Node]int32
	adj     [][]edge
}

type edge struct {
	to       int32
	metric   int
	ifc      int32 // index in the source node's Interfaces
	peerIfc  int32 // index in the peer's Interfaces
	peerAddr netip.Addr
}

func newGraph(nw *topo.Network, up func(*topo.Link) bool) *graph {
	g := &graph{routers: nw.NodesWith(topo.Underlay), index: map[*topo.Node]int32{}}
	for i, r := range g.routers {
		g.index[r] = int32(i)
	}
	usable := map[*topo.Link]bool{}
	for _, l := range nw.Links {
		usable[l] = l.IsCore() && up(l)
	}
	g.adj = make([][]edge, len(g.routers))
	for i, r := range g.routers {
		for j, ifc := range r.Interfaces {
			if !usable[ifc.Link] {
				continue
			}
			peer := ifc.Peer
			g.adj[i] = append(g.adj[i], edge{
				to: g.index[peer.Node], metric: ifc.Link.Metric, ifc: int32(j),
				peerIfc: int32(slices.Index(peer.Node.Interfaces, peer)), peerAddr: peer.Addr6.Addr(),
			})
		}
	}
	return g
}

// spf is one source's shortest paths: dist (-1 unreachable), the file-order
// first hop (as ShortestPathsUp breaks ties) and the ECMP first-hop sets.
type spf struct {
	dist  []int
	first []int32
	done  []bool
	order []int32
	words int
	ecmp  []uint64 // words per node
	pq    arrQueue
}

func newSPF(n int) *spf {
	return &spf{dist: make([]int, n), first: make([]int32, n), done: make([]bool, n)}
}

// run computes the shortest paths from src; words is the size of an
// interface set of src.
func (s *spf) run(g *graph, src int32, words int) {
	for i := range s.dist {
		s.dist[i], s.first[i], s.done[i] = -1, -1, false
	}
	s.order = s.order[:0]
	s.dist[src] = 0
	s.pq = append(s.pq[:0], arrItem{node: src})
	pushed := 0
	for len(s.pq) > 0 {
		it := s.pq.pop()
		if s.done[it.node] {
			continue
		}
		s.done[it.node] = true
		s.order = append(s.order, it.node)
		for _, e := range g.adj[it.node] {
			if s.done[e.to] {
				continue
			}
			d := it.dist + e.metric
			if old := s.dist[e.to]; old >= 0 && old <= d {
				continue
			}
			s.dist[e.to] = d
			if it.node == src {
				s.first[e.to] = e.ifc
			} else {
				s.first[e.to] = s.first[it.node]
			}
			pushed++
			s.pq.push(arrItem{node: e.to, dist: d, n: pushed})
		}
	}
	// Nodes come out of the queue by distance, and metrics are positive:
	// every predecessor on a shortest path is final before its successor.
	s.words = words
	need := len(s.dist) * words
	if cap(s.ecmp) < need {
		s.ecmp = make([]uint64, need)
	}
	s.ecmp = s.ecmp[:need]
	clear(s.ecmp)
	for _, v := range s.order[min(1, len(s.order)):] {
		set := s.ecmp[int(v)*words : int(v+1)*words]
		for _, e := range g.adj[v] {
			u := e.to // links are symmetric: the reverse edge has the same metric
			if !s.done[u] || s.dist[u]+e.metric != s.dist[v] {
				continue
			}
			if u == src {
				set[e.peerIfc/64] |= 1 << (e.peerIfc % 64)
				continue
			}
			orInto(set, s.ecmp[int(u)*words:int(u+1)*words])
		}
	}
}

type arrItem struct {
	node int32
	dist int
	n    int // insertion order, for stable ties
}

// arrQueue is a binary min-heap by (dist, n), typed to spare the boxing of
// container/heap on the hot path (a million pushes for a 1,000-router
// grid).
type arrQueue []arrItem

func (q arrQueue) less(i, j int) bool {
	if q[i].dist != q[j].dist {
		return q[i].dist < q[j].dist
	}
	return q[i].n < q[j].n
}

func (q *arrQueue) push(it arrItem) {
	*q = append(*q, it)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *arrQueue) pop() arrItem {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(h) && h.less(l, m) {
			m = l
		}
		if r := l + 1; r < len(h) && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

// Interface sets are bitsets over a router's Interfaces, plus one bit (at
// len(Interfaces)) for "the kernel's own route"; all ones is don't-care.

func orInto(dst, src []uint64) {
	for i := range dst {
		dst[i] |= src[i]
	}
}

func fill(dst []uint64) {
	for i := range dst {
		dst[i] = ^uint64(0)
	}
}

func universal(s []uint64) bool {
	for _, w := range s {
		if w != ^uint64(0) {
			return false
		}
	}
	return true
}

func has(s []uint64, bit int32) bool { return s[bit/64]&(1<<(bit%64)) != 0 }

// meetInto sets dst to dst∩b when that is not empty, else to dst∪b
// (ORTC's #).
func meetInto(dst, b []uint64) {
	empty := true
	for i := range dst {
		empty = empty && dst[i]&b[i] == 0
	}
	for i := range dst {
		if empty {
			dst[i] |= b[i]
		} else {
			dst[i] &= b[i]
		}
	}
}

// restrictInto narrows dst to dst∩h, or to h when they do not meet.
func restrictInto(dst, h []uint64) {
	empty := true
	for i := range dst {
		empty = empty && dst[i]&h[i] == 0
	}
	for i := range dst {
		if empty {
			dst[i] = h[i]
		} else {
			dst[i] &= h[i]
		}
	}
}

// lowest is the lowest interface (not the kernel bit) in s, or -1.
func lowest(s []uint64, nIfc int32) int32 {
	for i, w := range s {
		if w != 0 {
			b := int32(i*64 + bits.TrailingZeros64(w))
			if b < nIfc {
				return b
			}
			return -1
		}
	}
	return -1
}

// pass holds one router's working arrays, reused from router to router.
type pass struct {
	sets     []uint64 // words per trie node
	destSets []uint64 // words per destination
	owned    []bool   // per destination
	destPref []int32  // per destination: the file-order first hop, or -1
	pref     []int32  // per trie node
	eff      []int32  // per trie node: the next hop in effect
	uni      []uint64 // all ones
	local    []uint64 // only the kernel bit
}

const (
	hopNone int32 = -1 // no route at all (above the first route)
)

// routes computes router src's compressed table.
func (p *pass) routes(g *graph, sk *skeleton, s *spf, src int32) []Route {
	r := g.routers[src]
	nIfc := int32(len(r.Interfaces))
	localBit := nIfc
	w := int(nIfc+1+63) / 64
	s.run(g, src, w)

	nd, nn := len(sk.dests), len(sk.prefix)
	p.destSets = grow(p.destSets, nd*w)
	p.sets = grow(p.sets, nn*w)
	p.owned = growT(p.owned, nd)
	p.destPref = growT(p.destPref, nd)
	p.pref = growT(p.pref, nn)
	p.eff = growT(p.eff, nn)
	p.uni, p.local = grow(p.uni, w), grow(p.local, w)
	fill(p.uni)
	clear(p.local)
	p.local[localBit/64] |= 1 << (localBit % 64)

	// Each destination's candidate set: the ECMP first hops towards its
	// nearest owners.
	for d, os := range sk.owners {
		set := p.destSets[d*w : (d+1)*w]
		p.owned[d], p.destPref[d] = false, hopNone
		best := -1
		for _, o := range os {
			if o == src {
				p.owned[d] = true
				break
			}
			if dd := s.dist[o]; dd >= 0 && (best < 0 || dd < s.dist[best]) {
				best = int(o)
			}
		}
		if p.owned[d] || best < 0 {
			fill(set)
			continue
		}
		clear(set)
		for _, o := range os {
			if s.dist[o] == s.dist[best] {
				orInto(set, s.ecmp[int(o)*w:int(o+1)*w])
			}
		}
		p.destPref[d] = s.first[best]
	}

	// Bottom-up.
	for i := nn - 1; i >= 0; i-- {
		set := p.sets[i*w : (i+1)*w]
		d := sk.dest[i]
		if d >= 0 && p.owned[d] {
			copy(set, p.uni) // the kernel's route decides, whatever comes from above
			p.pref[i] = hopNone
			continue
		}
		// The children's meet; a missing child is don't-care.
		switch c0, c1 := sk.child[i][0], sk.child[i][1]; {
		case c0 >= 0 && c1 >= 0:
			copy(set, p.sets[int(c0)*w:int(c0+1)*w])
			meetInto(set, p.sets[int(c1)*w:int(c1+1)*w])
		case c0 >= 0:
			copy(set, p.sets[int(c0)*w:int(c0+1)*w])
		case c1 >= 0:
			copy(set, p.sets[int(c1)*w:int(c1+1)*w])
		default:
			copy(set, p.uni)
		}
		switch {
		case d >= 0:
			// A destination's own addresses (those no more specific
			// destination takes) need its next hops.
			restrictInto(set, p.destSets[int(d)*w:int(d+1)*w])
		case sk.cover[i] >= 0:
			// Holes below a covering destination are that destination's.
			cd := sk.dest[sk.cover[i]]
			if p.owned[cd] {
				restrictInto(set, p.local)
			} else {
				restrictInto(set, p.destSets[int(cd)*w:int(cd+1)*w])
			}
		}
		p.pref[i] = hopNone
		if d >= 0 && p.destPref[d] >= 0 && has(set, p.destPref[d]) {
			p.pref[i] = p.destPref[d]
		} else {
			for _, c := range sk.child[i] {
				if c >= 0 && p.pref[c] >= 0 && has(set, p.pref[c]) {
					p.pref[i] = p.pref[c]
					break
				}
			}
		}
	}

	// Top-down, in address order.
	var out []Route
	for i := range nn {
		inh := hopNone
		if par := sk.parent[i]; par >= 0 {
			inh = p.eff[par]
		}
		set := p.sets[i*w : (i+1)*w]
		if d := sk.dest[i]; d >= 0 && p.owned[d] {
			p.eff[i] = localBit
			continue
		}
		if universal(set) || (inh != hopNone && has(set, inh)) {
			p.eff[i] = inh
			continue
		}
		h := p.pref[i]
		if h < 0 {
			h = lowest(set, nIfc)
		}
		if h < 0 {
			// Only the kernel's route is acceptable, and it is in
			// effect already (see restrictInto's callers).
			p.eff[i] = inh
			continue
		}
		p.eff[i] = h
		ifc := r.Interfaces[h]
		out = append(out, Route{Dst: sk.prefix[i], Via: ifc.Peer.Addr6.Addr(), Dev: ifc.Name})
	}
	return out
}

func grow(s []uint64, n int) []uint64 {
	if cap(s) < n {
		return make([]uint64, n)
	}
	return s[:n]
}

func growT[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Lookup is the longest-prefix match of a in routes, as the kernel would
// resolve it among them.
func Lookup(routes []Route, a netip.Addr) (Route, bool) {
	best := -1
	for i, r := range routes {
		if r.Dst.Contains(a) && (best < 0 || r.Dst.Bits() > routes[best].Dst.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return Route{}, false
	}
	return routes[best], true
}
