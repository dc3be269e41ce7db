package underlay

import (
	"container/heap"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sr6net/sr6/internal/topo"
)

// Route is one route to install on a node.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr // next hop; invalid for a default-less direct route
	Dev string     // outgoing interface
}

// ShortestPaths runs Dijkstra from src over underlay nodes only (the others
// hang off a gateway and never transit) and returns, for every reachable
// underlay node, its distance
// and the interface of src the path leaves by. Ties are broken by the file
// order of links, so the result is deterministic.
func ShortestPaths(nw *topo.Network, src *topo.Node) (dist map[*topo.Node]int, firstHop map[*topo.Node]*topo.Interface) {
	return ShortestPathsUp(nw, src, allUp)
}

func allUp(*topo.Link) bool { return true }

// ShortestPathsUp is ShortestPaths over the links for which up is true.
func ShortestPathsUp(nw *topo.Network, src *topo.Node, up func(*topo.Link) bool) (dist map[*topo.Node]int, firstHop map[*topo.Node]*topo.Interface) {
	dist = map[*topo.Node]int{src: 0}
	firstHop = map[*topo.Node]*topo.Interface{}
	pq := &queue{{node: src}}
	done := map[*topo.Node]bool{}
	pushed := 0
	for pq.Len() > 0 {
		it := heap.Pop(pq).(item)
		if done[it.node] {
			continue
		}
		done[it.node] = true
		for _, ifc := range it.node.Interfaces {
			peer := ifc.Peer.Node
			if !peer.Has(topo.Underlay) || done[peer] || !up(ifc.Link) {
				continue
			}
			d := it.dist + ifc.Link.Metric
			if old, seen := dist[peer]; seen && old <= d {
				continue
			}
			dist[peer] = d
			if it.node == src {
				firstHop[peer] = ifc
			} else {
				firstHop[peer] = firstHop[it.node]
			}
			pushed++
			heap.Push(pq, item{node: peer, dist: d, n: pushed})
		}
	}
	return dist, firstHop
}

type item struct {
	node *topo.Node
	dist int
	n    int // insertion order, for stable ties
}

type queue []item

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].dist != q[j].dist {
		return q[i].dist < q[j].dist
	}
	return q[i].n < q[j].n
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(item)) }
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// destinations maps every underlay prefix to the underlay nodes it is
// attached to: an SRv6 node's loopback and locator to the node, or to its
// gateway's node when it is outside the underlay; core links to both ends;
// edge subnets (IPv6 only: IPv4 rides SRv6) to their underlay end.
func destinations(nw *topo.Network) (map[netip.Prefix][]*topo.Node, []netip.Prefix) {
	owners := map[netip.Prefix][]*topo.Node{}
	var order []netip.Prefix
	add := func(p netip.Prefix, n *topo.Node) {
		if _, ok := owners[p]; !ok {
			order = append(order, p)
		}
		owners[p] = append(owners[p], n)
	}
	for _, n := range nw.NodesWith(topo.SRv6) {
		owner := n
		if !n.Has(topo.Underlay) {
			if owner = n.AttachedRouter(); owner == nil {
				continue
			}
		}
		add(netip.PrefixFrom(n.Loopback, 128), owner)
		add(n.Locator, owner)
	}
	for _, l := range nw.Links {
		switch {
		case l.IsCore():
			add(l.Subnet6, l.A.Node)
			add(l.Subnet6, l.B.Node)
		case l.A.Node.Has(topo.Underlay):
			add(l.Subnet6, l.A.Node)
		default:
			add(l.Subnet6, l.B.Node)
		}
	}
	return owners, order
}

// Attached are the routes underlay node r needs to the SRv6 nodes that hang
// off it (none for routers and hosts): their loopbacks and locators are not
// interface prefixes, so r reaches them through their edge address. The
// rest of the underlay reaches them through r.
func Attached(r *topo.Node) []Route {
	var out []Route
	for _, n := range AttachedSRv6(r) {
		via := n.Interfaces[0].Addr6.Addr()
		dev := n.Gateway().Name
		out = append(out,
			Route{Dst: netip.PrefixFrom(n.Loopback, 128), Via: via, Dev: dev},
			Route{Dst: n.Locator, Via: via, Dev: dev})
	}
	return out
}

// AttachedSRv6 returns the SRv6 nodes outside the underlay whose gateway
// is on underlay node r, in r's interface order.
func AttachedSRv6(r *topo.Node) []*topo.Node {
	var out []*topo.Node
	for _, ifc := range r.Interfaces {
		n := ifc.Peer.Node
		if n.Has(topo.SRv6) && !n.Has(topo.Underlay) && n.Gateway() == ifc {
			out = append(out, n)
		}
	}
	return out
}

// Static computes the static underlay: for each underlay node, the
// fewest routes that send every prefix it is not attached to through a
// first hop of a shortest path to the nearest underlay node that owns the
// prefix (see compress.go: nearby prefixes sharing next hops merge into
// one route), then the Attached routes to the SRv6 nodes hanging off it.
// Underlay nodes unreachable from one another get no route to each other's
// prefixes (the lab reports the graph as split). Addresses inside a merged
// prefix that no topology prefix covers follow its route, as in any
// aggregated network: a packet to one of them loops until its hop limit.
func Static(nw *topo.Network) map[string][]Route { return StaticUp(nw, allUp) }

// StaticUp is Static over the links for which up is true: the underlay
// the controller recomputes when links fail.
func StaticUp(nw *topo.Network, up func(*topo.Link) bool) map[string][]Route {
	g := newGraph(nw, up)
	owners, order := destinations(nw)
	idx := make([][]int32, len(order))
	for i, p := range order {
		for _, o := range owners[p] {
			idx[i] = append(idx[i], g.index[o])
		}
	}
	sk := newSkeleton(order, idx)
	// Routers are independent once the skeleton exists: one worker per
	// core, each with its own arrays, taking routers in turn.
	tables := make([][]Route, len(g.routers))
	var next atomic.Int32
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(g.routers)) {
		wg.Go(func() {
			s := newSPF(len(g.routers))
			var ps pass
			for i := next.Add(1) - 1; int(i) < len(g.routers); i = next.Add(1) - 1 {
				tables[i] = append(ps.routes(g, sk, s, i), Attached(g.routers[i])...)
			}
		})
	}
	wg.Wait()
	out := make(map[string][]Route, len(g.routers))
	for i, r := range g.routers {
		out[r.Name] = tables[i]
	}
	return out
}

// HostRoutes are the default routes (IPv4 and IPv6) of a node outside the
// underlay (a host) through its gateway.
func HostRoutes(h *topo.Node) []Route {
	gw := h.Gateway()
	if gw == nil {
		return nil
	}
	dev := gw.Peer.Name
	return []Route{
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: gw.Addr4.Addr(), Dev: dev},
		{Dst: netip.MustParsePrefix("::/0"), Via: gw.Addr6.Addr(), Dev: dev},
	}
}

// Split returns the groups of underlay nodes that cannot reach each other,
// largest first; a connected core gives one group.
func Split(nw *topo.Network) [][]string {
	seen := map[*topo.Node]bool{}
	var groups [][]string
	for _, r := range nw.NodesWith(topo.Underlay) {
		if seen[r] {
			continue
		}
		dist, _ := ShortestPaths(nw, r)
		var g []string
		for n := range dist {
			seen[n] = true
			g = append(g, n.Name)
		}
		sort.Strings(g)
		groups = append(groups, g)
	}
	sort.SliceStable(groups, func(i, j int) bool { return len(groups[i]) > len(groups[j]) })
	return groups
}
