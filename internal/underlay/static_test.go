package underlay

import (
	"maps"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/topo"
)

// Small topologies written inline so each test shows the graph it is about.

// triTopo is a triangle whose direct r1--r3 link (metric 20) is dearer than
// the two hops through r2 (5 + 5).
const triTopo = `name: tri
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [h1:up0, r1:eth0]
  - endpoints: [r1:eth1, r2:eth1]
    metric: 5
  - endpoints: [r2:eth2, r3:eth2]
    metric: 5
  - endpoints: [r1:eth3, r3:eth3]
    metric: 20
  - endpoints: [r3:eth0, h2:up0]
`

// lineTopo is h1 -- r1 -- r2 -- r3 -- r4 -- h2 with default metrics.
const lineTopo = `name: line
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  r4: {kind: router}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [h1:up0, r1:eth0]
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth2, r3:eth1]
  - endpoints: [r3:eth2, r4:eth1]
  - endpoints: [r4:eth0, h2:up0]
`

// squareA and squareB are the same square r1-r2-r3-r4 with equal metrics,
// so r1 reaches r3 over two equal-cost paths; only the file order of the
// links differs. The path whose first link comes first in the file wins.
const squareA = `name: sqa
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  r4: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth2, r3:eth1]
  - endpoints: [r1:eth2, r4:eth1]
  - endpoints: [r4:eth2, r3:eth2]
  - endpoints: [r3:eth0, h1:up0]
`

const squareB = `name: sqb
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  r4: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth2, r4:eth1]
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth2, r3:eth1]
  - endpoints: [r4:eth2, r3:eth2]
  - endpoints: [r3:eth0, h1:up0]
`

// splitTopo has three router groups: r1 alone (first in the file), r2-r3,
// and r4-r5-r6. Host h3 is linked to both r3 and r4: hosts never transit,
// so it must not join the two groups.
const splitTopo = `name: split
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  r4: {kind: router}
  r5: {kind: router}
  r6: {kind: router}
  h1: {kind: host}
  h2: {kind: host}
  h3: {kind: host}
links:
  - endpoints: [h1:up0, r2:eth0]
  - endpoints: [r2:eth1, r3:eth1]
  - endpoints: [r4:eth1, r5:eth1]
  - endpoints: [r5:eth2, r6:eth1]
  - endpoints: [r6:eth0, h2:up0]
  - endpoints: [h3:up0, r3:eth9]
  - endpoints: [h3:up1, r4:eth9]
`

// parallelTopo has two links between r1 and r2 (the second cheaper) and two
// equal ones between r2 and r3 (the first in the file wins).
const parallelTopo = `name: par
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1]
    metric: 30
  - endpoints: [r1:eth2, r2:eth2]
    metric: 10
  - endpoints: [r2:eth3, r3:eth1]
  - endpoints: [r2:eth4, r3:eth2]
`

var allTopos = []struct{ name, yaml string }{
	{"parallel", parallelTopo},
	{"triangle", triTopo},
	{"line", lineTopo},
	{"squareA", squareA},
	{"squareB", squareB},
	{"split", splitTopo},
}

func mustNetwork(t *testing.T, name, yaml string) *topo.Network {
	t.Helper()
	nw, err := topo.ParseNetwork(name+".yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return nw
}

func mustNode(t *testing.T, nw *topo.Network, name string) *topo.Node {
	t.Helper()
	n := nw.Node(name)
	if n == nil {
		t.Fatalf("no node %s", name)
	}
	return n
}

// linkBetween is the link joining nodes a and b (in either order).
func linkBetween(t *testing.T, nw *topo.Network, a, b string) *topo.Link {
	t.Helper()
	for _, l := range nw.Links {
		x, y := l.A.Node.Name, l.B.Node.Name
		if (x == a && y == b) || (x == b && y == a) {
			return l
		}
	}
	t.Fatalf("no link between %s and %s", a, b)
	return nil
}

// prefixOf resolves the names used in the tables: "lo:r1" is r1's loopback
// /128, "loc:r1" its locator, "link:a-b" the IPv6 subnet of the link
// between nodes a and b (a router link or a host link), "link#2" that of
// the third link in the file.
func prefixOf(t *testing.T, nw *topo.Network, key string) netip.Prefix {
	t.Helper()
	if n, ok := strings.CutPrefix(key, "link#"); ok {
		i, err := strconv.Atoi(n)
		if err != nil || i < 0 || i >= len(nw.Links) {
			t.Fatalf("bad prefix key %q", key)
		}
		return nw.Links[i].Subnet6
	}
	kind, arg, _ := strings.Cut(key, ":")
	switch kind {
	case "lo":
		return netip.PrefixFrom(mustNode(t, nw, arg).Loopback, 128)
	case "loc":
		return mustNode(t, nw, arg).Locator
	case "link":
		a, b, _ := strings.Cut(arg, "-")
		return linkBetween(t, nw, a, b).Subnet6
	}
	t.Fatalf("bad prefix key %q", key)
	return netip.Prefix{}
}

// refDistances is Floyd-Warshall over routers and router-router links: an
// independent reference for ShortestPaths. Missing entries are unreachable.
func refDistances(nw *topo.Network) map[*topo.Node]map[*topo.Node]int {
	rs := nw.NodesWith(topo.Underlay)
	const inf = math.MaxInt / 4
	d := map[*topo.Node]map[*topo.Node]int{}
	for _, a := range rs {
		d[a] = map[*topo.Node]int{}
		for _, b := range rs {
			d[a][b] = inf
		}
		d[a][a] = 0
	}
	for _, l := range nw.Links {
		if !l.IsCore() {
			continue
		}
		a, b := l.A.Node, l.B.Node
		d[a][b] = min(d[a][b], l.Metric)
		d[b][a] = min(d[b][a], l.Metric)
	}
	for _, k := range rs {
		for _, i := range rs {
			for _, j := range rs {
				if d[i][k]+d[k][j] < d[i][j] {
					d[i][j] = d[i][k] + d[k][j]
				}
			}
		}
	}
	for _, a := range rs {
		for _, b := range rs {
			if d[a][b] == inf {
				delete(d[a], b)
			}
		}
	}
	return d
}

func TestShortestPaths(t *testing.T) {
	tests := []struct {
		name, yaml, src string
		wantDist        map[string]int
		wantFirst       map[string]string // router -> interface of src
	}{
		{
			name: "triangle prefers two cheap hops", yaml: triTopo, src: "r1",
			wantDist:  map[string]int{"r1": 0, "r2": 5, "r3": 10},
			wantFirst: map[string]string{"r2": "eth1", "r3": "eth1"},
		},
		{
			name: "triangle from r3", yaml: triTopo, src: "r3",
			wantDist:  map[string]int{"r1": 10, "r2": 5, "r3": 0},
			wantFirst: map[string]string{"r1": "eth2", "r2": "eth2"},
		},
		{
			name: "triangle from the middle", yaml: triTopo, src: "r2",
			wantDist:  map[string]int{"r1": 5, "r2": 0, "r3": 5},
			wantFirst: map[string]string{"r1": "eth1", "r3": "eth2"},
		},
		{
			name: "line from the end", yaml: lineTopo, src: "r1",
			wantDist:  map[string]int{"r1": 0, "r2": 10, "r3": 20, "r4": 30},
			wantFirst: map[string]string{"r2": "eth1", "r3": "eth1", "r4": "eth1"},
		},
		{
			name: "line from inside", yaml: lineTopo, src: "r3",
			wantDist:  map[string]int{"r1": 20, "r2": 10, "r3": 0, "r4": 10},
			wantFirst: map[string]string{"r1": "eth1", "r2": "eth1", "r4": "eth2"},
		},
		{
			name: "square tie goes to the link first in the file (r1-r2)", yaml: squareA, src: "r1",
			wantDist:  map[string]int{"r1": 0, "r2": 10, "r3": 20, "r4": 10},
			wantFirst: map[string]string{"r2": "eth1", "r3": "eth1", "r4": "eth2"},
		},
		{
			name: "square tie goes to the link first in the file (r1-r4)", yaml: squareB, src: "r1",
			wantDist:  map[string]int{"r1": 0, "r2": 10, "r3": 20, "r4": 10},
			wantFirst: map[string]string{"r2": "eth1", "r3": "eth2", "r4": "eth2"},
		},
		{
			name: "square tie from the far corner", yaml: squareA, src: "r3",
			wantDist:  map[string]int{"r1": 20, "r2": 10, "r3": 0, "r4": 10},
			wantFirst: map[string]string{"r1": "eth1", "r2": "eth1", "r4": "eth2"},
		},
		{
			name: "parallel links: the cheaper one", yaml: parallelTopo, src: "r1",
			wantDist:  map[string]int{"r1": 0, "r2": 10, "r3": 20},
			wantFirst: map[string]string{"r2": "eth2", "r3": "eth2"},
		},
		{
			name: "parallel links: equal ones tie to the first", yaml: parallelTopo, src: "r3",
			wantDist:  map[string]int{"r1": 20, "r2": 10, "r3": 0},
			wantFirst: map[string]string{"r1": "eth1", "r2": "eth1"},
		},
		{
			name: "split: isolated router reaches only itself", yaml: splitTopo, src: "r1",
			wantDist:  map[string]int{"r1": 0},
			wantFirst: map[string]string{},
		},
		{
			name: "split: hosts do not transit", yaml: splitTopo, src: "r3",
			wantDist:  map[string]int{"r2": 10, "r3": 0},
			wantFirst: map[string]string{"r2": "eth1"},
		},
		{
			name: "split: other part", yaml: splitTopo, src: "r6",
			wantDist:  map[string]int{"r4": 20, "r5": 10, "r6": 0},
			wantFirst: map[string]string{"r4": "eth1", "r5": "eth1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := mustNetwork(t, "t", tt.yaml)
			src := mustNode(t, nw, tt.src)
			dist, first := ShortestPaths(nw, src)

			gotDist := map[string]int{}
			for n, d := range dist {
				gotDist[n.Name] = d
			}
			if !reflect.DeepEqual(gotDist, tt.wantDist) {
				t.Errorf("dist = %v, want %v", gotDist, tt.wantDist)
			}
			gotFirst := map[string]string{}
			for n, ifc := range first {
				if ifc.Node != src {
					t.Errorf("first hop to %s is %s:%s, not an interface of %s", n.Name, ifc.Node.Name, ifc.Name, src.Name)
				}
				gotFirst[n.Name] = ifc.Name
			}
			if !reflect.DeepEqual(gotFirst, tt.wantFirst) {
				t.Errorf("first hops = %v, want %v", gotFirst, tt.wantFirst)
			}
		})
	}
}

// TestShortestPathsMatchesReference checks every source of every topology
// against Floyd-Warshall, and that each first hop starts a shortest path.
func TestShortestPathsMatchesReference(t *testing.T) {
	for _, tp := range allTopos {
		t.Run(tp.name, func(t *testing.T) {
			nw := mustNetwork(t, tp.name, tp.yaml)
			ref := refDistances(nw)
			for _, src := range nw.NodesWith(topo.Underlay) {
				dist, first := ShortestPaths(nw, src)
				if !maps.Equal(dist, ref[src]) {
					t.Errorf("%s: dist = %v, reference %v", src.Name, names(dist), names(ref[src]))
				}
				if len(first) != len(dist)-1 {
					t.Errorf("%s: %d first hops for %d reachable routers", src.Name, len(first), len(dist)-1)
				}
				for dst, ifc := range first {
					peer := ifc.Peer.Node
					if !peer.Has(topo.Underlay) {
						t.Errorf("%s -> %s: first hop %s leads to host %s", src.Name, dst.Name, ifc.Name, peer.Name)
						continue
					}
					if got := ifc.Link.Metric + ref[peer][dst]; got != ref[src][dst] {
						t.Errorf("%s -> %s: first hop %s costs %d, shortest is %d", src.Name, dst.Name, ifc.Name, got, ref[src][dst])
					}
				}
			}
		})
	}
}

func names(m map[*topo.Node]int) map[string]int {
	out := map[string]int{}
	for n, v := range m {
		out[n.Name] = v
	}
	return out
}

// on builds the expected routes of one router that leave by dev.
func on(dev string, keys ...string) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		m[k] = dev
	}
	return m
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			if _, dup := out[k]; dup {
				panic("duplicate key " + k)
			}
			out[k] = v
		}
	}
	return out
}

func TestStatic(t *testing.T) {
	tests := []struct {
		name, yaml string
		// router -> prefix key -> outgoing interfaces ("eth1|eth2": any
		// of them) its longest-prefix match must give; every router of
		// the topology is listed.
		want map[string]map[string]string
		// routes: how many routes some routers have (the compression).
		routes map[string]int
	}{
		{
			name: "triangle", yaml: triTopo,
			want: map[string]map[string]string{
				"r1": on("eth1", "lo:r2", "loc:r2", "lo:r3", "loc:r3", "link:r2-r3", "link:r3-h2"),
				"r2": merge(
					// r1--r3 is as near through r1 as through r3: the
					// first owner (the link's A end, r1) wins.
					// ECMP: r1--r3 is as near through r1 as through r3.
					on("eth1", "lo:r1", "loc:r1", "link:h1-r1"),
					on("eth1|eth2", "link:r1-r3"),
					on("eth2", "lo:r3", "loc:r3", "link:r3-h2")),
				"r3": on("eth2", "lo:r1", "loc:r1", "lo:r2", "loc:r2", "link:r1-r2", "link:h1-r1"),
			},
			// r1 and r3 send everything through r2: one route each.
			routes: map[string]int{"r1": 1, "r3": 1},
		},
		{
			name: "line", yaml: lineTopo,
			want: map[string]map[string]string{
				"r1": on("eth1", "lo:r2", "loc:r2", "lo:r3", "loc:r3", "lo:r4", "loc:r4",
					"link:r2-r3", "link:r3-r4", "link:r4-h2"),
				"r2": merge(
					on("eth1", "lo:r1", "loc:r1", "link:h1-r1"),
					on("eth2", "lo:r3", "loc:r3", "lo:r4", "loc:r4", "link:r3-r4", "link:r4-h2")),
				"r3": merge(
					on("eth1", "lo:r1", "loc:r1", "lo:r2", "loc:r2", "link:h1-r1", "link:r1-r2"),
					on("eth2", "lo:r4", "loc:r4", "link:r4-h2")),
				"r4": on("eth1", "lo:r1", "loc:r1", "lo:r2", "loc:r2", "lo:r3", "loc:r3",
					"link:h1-r1", "link:r1-r2", "link:r2-r3"),
			},
			// The ends have one neighbour: one route for everything.
			routes: map[string]int{"r1": 1, "r4": 1},
		},
		{
			// Opposite corners are 20 away both ways: either first hop.
			name: "square A", yaml: squareA,
			want: map[string]map[string]string{
				"r1": merge(
					on("eth1", "lo:r2", "loc:r2", "link:r2-r3"),
					on("eth1|eth2", "lo:r3", "loc:r3", "link:r3-h1"),
					on("eth2", "lo:r4", "loc:r4", "link:r4-r3")),
				"r2": merge(
					on("eth1", "lo:r1", "loc:r1", "link:r1-r4"),
					on("eth1|eth2", "lo:r4", "loc:r4"),
					on("eth2", "lo:r3", "loc:r3", "link:r4-r3", "link:r3-h1")),
				"r3": merge(
					on("eth1", "lo:r2", "loc:r2", "link:r1-r2"),
					on("eth1|eth2", "lo:r1", "loc:r1"),
					on("eth2", "lo:r4", "loc:r4", "link:r1-r4")),
				"r4": merge(
					on("eth1", "lo:r1", "loc:r1", "link:r1-r2"),
					on("eth1|eth2", "lo:r2", "loc:r2"),
					on("eth2", "lo:r3", "loc:r3", "link:r2-r3", "link:r3-h1")),
			},
		},
		{
			name: "square B", yaml: squareB,
			want: map[string]map[string]string{
				"r1": merge(
					on("eth1", "lo:r2", "loc:r2", "link:r2-r3"),
					on("eth1|eth2", "lo:r3", "loc:r3", "link:r3-h1"),
					on("eth2", "lo:r4", "loc:r4", "link:r4-r3")),
				"r2": merge(
					on("eth1", "lo:r1", "loc:r1", "link:r1-r4"),
					on("eth1|eth2", "lo:r4", "loc:r4"),
					on("eth2", "lo:r3", "loc:r3", "link:r4-r3", "link:r3-h1")),
				"r3": merge(
					on("eth1", "lo:r2", "loc:r2", "link:r1-r2"),
					on("eth1|eth2", "lo:r1", "loc:r1"),
					on("eth2", "lo:r4", "loc:r4", "link:r1-r4")),
				"r4": merge(
					on("eth1", "lo:r1", "loc:r1", "link:r1-r2"),
					on("eth1|eth2", "lo:r2", "loc:r2"),
					on("eth2", "lo:r3", "loc:r3", "link:r2-r3", "link:r3-h1")),
			},
		},
		{
			// The via address must be the far end of the link actually
			// used: r2:eth2 for r1, r2:eth3 for r3.
			name: "parallel links", yaml: parallelTopo,
			want: map[string]map[string]string{
				"r1": on("eth2", "lo:r2", "loc:r2", "lo:r3", "loc:r3", "link#2", "link#3"),
				"r2": merge(
					on("eth2", "lo:r1", "loc:r1"),
					on("eth3", "lo:r3", "loc:r3")),
				"r3": on("eth1", "lo:r1", "loc:r1", "lo:r2", "loc:r2", "link#0", "link#1"),
			},
		},
		{
			name: "split", yaml: splitTopo,
			want: map[string]map[string]string{
				"r1": {},
				"r2": on("eth1", "lo:r3", "loc:r3", "link:h3-r3"),
				"r3": on("eth1", "lo:r2", "loc:r2", "link:h1-r2"),
				"r4": on("eth1", "lo:r5", "loc:r5", "lo:r6", "loc:r6", "link:r5-r6", "link:r6-h2"),
				"r5": merge(
					on("eth1", "lo:r4", "loc:r4", "link:h3-r4"),
					on("eth2", "lo:r6", "loc:r6", "link:r6-h2")),
				"r6": on("eth1", "lo:r4", "loc:r4", "lo:r5", "loc:r5", "link:r4-r5", "link:h3-r4"),
			},
			routes: map[string]int{"r1": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := mustNetwork(t, "t", tt.yaml)
			got := Static(nw)
			if gk, wk := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tt.want)); !slices.Equal(gk, wk) {
				t.Fatalf("Static has routes for %v, want exactly the routers %v", gk, wk)
			}
			for rname, wantKeys := range tt.want {
				r := mustNode(t, nw, rname)
				for key, devs := range wantKeys {
					p := prefixOf(t, nw, key)
					// The first and last address of the prefix resolve
					// alike: the route covers it whole.
					for _, a := range []netip.Addr{p.Addr(), lastAddr(p)} {
						rt, ok := Lookup(got[rname], a)
						if !ok {
							t.Errorf("%s: no route to %s (%s)", rname, a, key)
							continue
						}
						if !slices.Contains(strings.Split(devs, "|"), rt.Dev) {
							t.Errorf("%s: %s (%s) leaves by %s (route %s), want %s", rname, a, key, rt.Dev, rt.Dst, devs)
						}
						if ifc := r.Iface(rt.Dev); ifc == nil || rt.Via != ifc.Peer.Addr6.Addr() {
							t.Errorf("%s: route %s via %s dev %s: not the peer's link address", rname, rt.Dst, rt.Via, rt.Dev)
						}
					}
				}
			}
			for rname, n := range tt.routes {
				if len(got[rname]) != n {
					t.Errorf("%s has %d routes, want %d: %v", rname, len(got[rname]), n, got[rname])
				}
			}
		})
	}
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 96
	}
	for i := off + p.Bits(); i < 128; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// owners lists, independently of destinations, which routers each underlay
// prefix is attached to.
func refOwners(nw *topo.Network) map[netip.Prefix][]*topo.Node {
	o := map[netip.Prefix][]*topo.Node{}
	for _, r := range nw.NodesWith(topo.Underlay) {
		o[netip.PrefixFrom(r.Loopback, 128)] = append(o[netip.PrefixFrom(r.Loopback, 128)], r)
		o[r.Locator] = append(o[r.Locator], r)
	}
	for _, l := range nw.Links {
		for _, end := range []*topo.Interface{l.A, l.B} {
			if end.Node.Has(topo.Underlay) {
				o[l.Subnet6] = append(o[l.Subnet6], end.Node)
			}
		}
	}
	return o
}

// TestStaticDeterministic: the same file gives the same routes in the same
// order, run after run (map iteration must not leak into the output).
func TestStaticDeterministic(t *testing.T) {
	for _, tp := range allTopos {
		t.Run(tp.name, func(t *testing.T) {
			first := Static(mustNetwork(t, tp.name, tp.yaml))
			for range 10 {
				if again := Static(mustNetwork(t, tp.name, tp.yaml)); !reflect.DeepEqual(first, again) {
					t.Fatalf("Static differs between runs:\n%v\n%v", first, again)
				}
			}
		})
	}
}

func TestHostRoutes(t *testing.T) {
	tests := []struct {
		name, yaml, host string
		gwNode, gwIface  string // router side of the host's first link
		dev              string // host side
	}{
		{"triangle h1", triTopo, "h1", "r1", "eth0", "up0"},
		{"triangle h2 (host written second)", triTopo, "h2", "r3", "eth0", "up0"},
		{"line h2", lineTopo, "h2", "r4", "eth0", "up0"},
		{"split h1", splitTopo, "h1", "r2", "eth0", "up0"},
		{"dual-homed host uses its first link", splitTopo, "h3", "r3", "eth9", "up0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := mustNetwork(t, "t", tt.yaml)
			gw := mustNode(t, nw, tt.gwNode).Iface(tt.gwIface)
			if gw == nil {
				t.Fatalf("no interface %s:%s", tt.gwNode, tt.gwIface)
			}
			want := []Route{
				{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: gw.Addr4.Addr(), Dev: tt.dev},
				{Dst: netip.MustParsePrefix("::/0"), Via: gw.Addr6.Addr(), Dev: tt.dev},
			}
			if !want[0].Via.Is4() || !want[1].Via.Is6() {
				t.Fatalf("gateway %s:%s has no addresses (%v, %v)", tt.gwNode, tt.gwIface, gw.Addr4, gw.Addr6)
			}
			got := HostRoutes(mustNode(t, nw, tt.host))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("HostRoutes(%s) = %v, want %v", tt.host, got, want)
			}
		})
	}
	t.Run("routers have none", func(t *testing.T) {
		nw := mustNetwork(t, "t", triTopo)
		for _, r := range nw.NodesWith(topo.Underlay) {
			if got := HostRoutes(r); got != nil {
				t.Errorf("HostRoutes(%s) = %v, want nil", r.Name, got)
			}
		}
	})
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       [][]string
	}{
		{"triangle is connected", triTopo, [][]string{{"r1", "r2", "r3"}}},
		{"line is connected", lineTopo, [][]string{{"r1", "r2", "r3", "r4"}}},
		{"square is connected", squareA, [][]string{{"r1", "r2", "r3", "r4"}}},
		{"parallel is connected", parallelTopo, [][]string{{"r1", "r2", "r3"}}},
		// Largest first; hosts (h3 on both r3 and r4) do not join groups.
		{"split", splitTopo, [][]string{{"r4", "r5", "r6"}, {"r2", "r3"}, {"r1"}}},
		{"equal sizes keep file order", `name: two
nodes:
  b: {kind: router}
  a: {kind: router}
  d: {kind: router}
  c: {kind: router}
links:
  - endpoints: [d:e1, c:e1]
  - endpoints: [b:e1, a:e1]
`, [][]string{{"a", "b"}, {"c", "d"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Split(mustNetwork(t, "t", tt.yaml))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Split = %v, want %v", got, tt.want)
			}
		})
	}
}
