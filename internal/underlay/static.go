package underlay

import (
	"container/heap"
	"net/netip"
	"sort"

	"github.com/sr6net/sr6/internal/topo"
)

// Route is one route to install on a node.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr // next hop; invalid for a default-less direct route
	Dev string     // outgoing interface
}

// ShortestPaths runs Dijkstra from src over routers only (hosts are leaves
// and never transit) and returns, for every reachable router, its distance
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
			if !peer.IsRouter() || done[peer] || !up(ifc.Link) {
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

// destinations maps every underlay prefix to the routers it is attached to:
// loopbacks and locators to their router, router links to both ends, host
// subnets (IPv6 only: IPv4 rides SRv6) to the host's router.
func destinations(nw *topo.Network) (map[netip.Prefix][]*topo.Node, []netip.Prefix) {
	owners := map[netip.Prefix][]*topo.Node{}
	var order []netip.Prefix
	add := func(p netip.Prefix, n *topo.Node) {
		if _, ok := owners[p]; !ok {
			order = append(order, p)
		}
		owners[p] = append(owners[p], n)
	}
	for _, r := range nw.Routers() {
		add(netip.PrefixFrom(r.Loopback, 128), r)
		add(r.Locator, r)
	}
	for _, l := range nw.Links {
		switch {
		case !l.IsHostLink():
			add(l.Subnet6, l.A.Node)
			add(l.Subnet6, l.B.Node)
		case l.A.Node.IsRouter():
			add(l.Subnet6, l.A.Node)
		default:
			add(l.Subnet6, l.B.Node)
		}
	}
	return owners, order
}

// Static computes the static underlay: for each router, a route to every
// prefix it is not attached to, through the first hop of the shortest path
// to the nearest router that owns the prefix. Routers unreachable from one
// another get no route (the lab reports the graph as split).
func Static(nw *topo.Network) map[string][]Route { return StaticUp(nw, allUp) }

// StaticUp is Static over the links for which up is true: the underlay
// the controller recomputes when links fail.
func StaticUp(nw *topo.Network, up func(*topo.Link) bool) map[string][]Route {
	owners, order := destinations(nw)
	out := map[string][]Route{}
	for _, r := range nw.Routers() {
		dist, first := ShortestPathsUp(nw, r, up)
		var routes []Route
		for _, p := range order {
			var best *topo.Node
			local := false
			for _, o := range owners[p] {
				if o == r {
					local = true
					break
				}
				if d, ok := dist[o]; ok && (best == nil || d < dist[best]) {
					best = o
				}
			}
			if local || best == nil {
				continue
			}
			hop := first[best]
			routes = append(routes, Route{Dst: p, Via: hop.Peer.Addr6.Addr(), Dev: hop.Name})
		}
		out[r.Name] = routes
	}
	return out
}

// HostRoutes are a host's default routes (IPv4 and IPv6) through its
// gateway router.
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

// Split returns the groups of routers that cannot reach each other, largest
// first; a connected core gives one group.
func Split(nw *topo.Network) [][]string {
	seen := map[*topo.Node]bool{}
	var groups [][]string
	for _, r := range nw.Routers() {
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
