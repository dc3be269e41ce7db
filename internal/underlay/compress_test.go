package underlay

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/gen"
	"github.com/sr6net/sr6/internal/topo"
)

// refDistancesUp is Floyd-Warshall over the router links for which up is
// true: an independent reference for the compressed tables.
func refDistancesUp(nw *topo.Network, up func(*topo.Link) bool) map[*topo.Node]map[*topo.Node]int {
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
		if !l.IsCore() || !up(l) {
			continue
		}
		a, b := l.A.Node, l.B.Node
		d[a][b] = min(d[a][b], l.Metric)
		d[b][a] = min(d[b][a], l.Metric)
	}
	for _, k := range rs {
		dk := d[k]
		for _, i := range rs {
			di, dik := d[i], d[i][k]
			if dik == inf {
				continue
			}
			for _, j := range rs {
				if v := dik + dk[j]; v < di[j] {
					di[j] = v
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

// probes are the addresses a table must route for destination p: its
// first and last address, and the planned addresses inside it (a
// loopback, a locator's SIDs and probe address, a link's two ends).
func probes(nw *topo.Network) []netip.Addr {
	var out []netip.Addr
	for _, p := range refPrefixes(nw) {
		out = append(out, p.Addr(), lastAddr(p))
	}
	for _, n := range nw.NodesWith(topo.SRv6) {
		out = append(out, n.Loopback, n.SIDs.End, n.SIDs.DX4, n.SIDs.DT6, n.Probe)
		for _, ifc := range n.Interfaces {
			if ifc.AdjSID.IsValid() {
				out = append(out, ifc.AdjSID)
			}
		}
	}
	for _, l := range nw.Links {
		out = append(out, l.A.Addr6.Addr(), l.B.Addr6.Addr())
	}
	return out
}

func refPrefixes(nw *topo.Network) []netip.Prefix {
	var out []netip.Prefix
	for p := range refOwners(nw) {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// mostSpecific is the destination an address belongs to: the longest
// topology prefix containing it.
func mostSpecific(ps []netip.Prefix, a netip.Addr) (netip.Prefix, bool) {
	var best netip.Prefix
	for _, p := range ps {
		if p.Contains(a) && (!best.IsValid() || p.Bits() > best.Bits()) {
			best = p
		}
	}
	return best, best.IsValid()
}

// checkTables is the property every static underlay must have, whatever
// the compression and the tie-breaking: for every router and every planned
// address, the longest-prefix match gives a next hop on a shortest path to
// the nearest owner of the address's prefix, via the peer's link address,
// and following next hops router by router reaches an owner. Where the
// router owns the prefix, no route of the table may take the address from
// the kernel's own route there.
func checkTables(t *testing.T, nw *topo.Network, up func(*topo.Link) bool, tables map[string][]Route) {
	t.Helper()
	ref := refDistancesUp(nw, up)
	owners := refOwners(nw)
	ps := refPrefixes(nw)
	nearest := func(r *topo.Node, p netip.Prefix) (int, bool) {
		best := -1
		for _, o := range owners[p] {
			if d, ok := ref[r][o]; ok && (best < 0 || d < best) {
				best = d
			}
		}
		return best, best >= 0
	}
	errs := 0
	fail := func(format string, args ...any) {
		if errs++; errs <= 20 {
			t.Errorf(format, args...)
		}
	}
	routers := nw.NodesWith(topo.Underlay)
	for _, a := range probes(nw) {
		p, ok := mostSpecific(ps, a)
		if !ok {
			continue
		}
		for _, r := range routers {
			if slices.Contains(owners[p], r) {
				if rt, ok := Lookup(tables[r.Name], a); ok && rt.Dst.Bits() >= p.Bits() {
					fail("%s owns %s but routes %s by %s via %s", r.Name, p, a, rt.Dst, rt.Dev)
				}
				continue
			}
			want, ok := nearest(r, p)
			if !ok {
				continue // unreachable: nothing to check
			}
			// Walk hop by hop; every step must be on a shortest path.
			at, cost := r, want
			for step := 0; !slices.Contains(owners[p], at); step++ {
				if step > len(routers) {
					fail("%s -> %s (%s): no owner after %d hops", r.Name, a, p, step)
					break
				}
				rt, ok := Lookup(tables[at.Name], a)
				if !ok {
					fail("%s -> %s (%s): %s has no route", r.Name, a, p, at.Name)
					break
				}
				ifc := at.Iface(rt.Dev)
				if ifc == nil || !ifc.Link.IsCore() || !up(ifc.Link) {
					fail("%s: route %s leaves by %s, not a live core interface", at.Name, rt.Dst, rt.Dev)
					break
				}
				if rt.Via != ifc.Peer.Addr6.Addr() {
					fail("%s: route %s via %s, want the peer's link address %s", at.Name, rt.Dst, rt.Via, ifc.Peer.Addr6.Addr())
				}
				next := ifc.Peer.Node
				rest, ok := nearest(next, p)
				if !ok || ifc.Link.Metric+rest != cost {
					fail("%s -> %s (%s): %s leaves by %s, not on a shortest path (%d+%d, shortest %d)",
						r.Name, a, p, at.Name, rt.Dev, ifc.Link.Metric, rest, cost)
					break
				}
				at, cost = next, rest
			}
		}
	}
	if errs > 20 {
		t.Errorf("... %d errors in all", errs)
	}
}

// genNetwork plans a topology of internal/gen.
func genNetwork(t testing.TB, o gen.Options) *topo.Network {
	t.Helper()
	y, err := gen.YAML(o)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := topo.ParseNetwork("gen.yaml", y)
	if err != nil {
		t.Fatal(err)
	}
	return nw
}

// randomTopo is a connected random graph of n routers (a random tree plus
// extra links, metrics 1..3 so that equal-cost paths abound) with a few
// hosts.
func randomTopo(rng *rand.Rand, n, extra int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: rnd\nnodes:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  r%d: {kind: router}\n", i)
	}
	hosts := 3
	for i := 1; i <= hosts; i++ {
		fmt.Fprintf(&b, "  h%d: {kind: host}\n", i)
	}
	b.WriteString("links:\n")
	ifs := map[int]int{}
	link := func(x, y int) {
		ifs[x]++
		ifs[y]++
		fmt.Fprintf(&b, "  - endpoints: [r%d:eth%d, r%d:eth%d]\n    metric: %d\n", x, ifs[x], y, ifs[y], 1+rng.IntN(3))
	}
	for i := 2; i <= n; i++ {
		link(1+rng.IntN(i-1), i)
	}
	for range extra {
		x, y := 1+rng.IntN(n), 1+rng.IntN(n)
		if x != y {
			link(x, y)
		}
	}
	for i := 1; i <= hosts; i++ {
		r := 1 + rng.IntN(n)
		ifs[r]++
		fmt.Fprintf(&b, "  - endpoints: [h%d:up0, r%d:eth%d]\n", i, r, ifs[r])
	}
	return b.String()
}

func TestStaticProperty(t *testing.T) {
	type tc struct {
		name string
		nw   *topo.Network
	}
	var cases []tc
	for _, tp := range allTopos {
		cases = append(cases, tc{tp.name, mustNetwork(t, tp.name, tp.yaml)})
	}
	for _, o := range []gen.Options{
		{Shape: "line", Routers: 9, Hosts: 1},
		{Shape: "ring", Routers: 12, Hosts: 1},
		{Shape: "ring", Routers: 13, Hosts: 2},
		{Shape: "grid", Rows: 6, Cols: 7, Hosts: 1},
		{Shape: "fattree", K: 4, Hosts: 1},
	} {
		cases = append(cases, tc{o.CommandLine(), genNetwork(t, o)})
	}
	rng := rand.New(rand.NewPCG(8, 1999))
	for i := range 4 {
		cases = append(cases, tc{fmt.Sprintf("random%d", i), mustNetwork(t, "rnd", randomTopo(rng, 18+4*i, 12+6*i))})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkTables(t, c.nw, allUp, Static(c.nw))
			// The same network with links failed, as the controller
			// recomputes it: up to a fifth of the links, some rounds
			// splitting the graph.
			for round := range 3 {
				down := map[*topo.Link]bool{}
				for _, l := range c.nw.Links {
					if l.IsCore() && rng.IntN(5) == 0 {
						down[l] = true
					}
				}
				up := func(l *topo.Link) bool { return !down[l] }
				t.Run(fmt.Sprintf("failures%d", round), func(t *testing.T) {
					checkTables(t, c.nw, up, StaticUp(c.nw, up))
				})
			}
		})
	}
}

// TestStaticOverlappingDestinations: the planner refuses overlapping
// prefixes, but StaticUp must stay correct without that guarantee. Here r4
// (at one end of r4 - r1 - r2 - r3) gets a locator covering every
// loopback: the holes of that locator must go to r4, the loopbacks inside
// it to their routers, on r4 itself too (which owns the covering prefix).
func TestStaticOverlappingDestinations(t *testing.T) {
	nw := mustNetwork(t, "ov", `name: ov
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  r4: {kind: router}
links:
  - endpoints: [r4:eth1, r1:eth1]
  - endpoints: [r1:eth2, r2:eth1]
  - endpoints: [r2:eth2, r3:eth1]
`)
	r4 := mustNode(t, nw, "r4")
	r4.Locator = netip.MustParsePrefix("fd00:0:ff::/120")
	got := Static(nw)
	checkTables(t, nw, allUp, got)
	tests := []struct {
		router, addr, dev string // dev "" : no route more specific than the covering one
	}{
		{"r2", "fd00:0:ff::80", "eth1"}, // a hole: towards r4
		{"r2", "fd00:0:ff::3", "eth2"},  // r3's loopback inside it
		{"r2", "fd00:0:ff::4", "eth1"},
		{"r3", "fd00:0:ff::1", "eth1"},
		{"r4", "fd00:0:ff::2", "eth1"},
		{"r4", "fd00:0:ff::3", "eth1"},
		{"r4", "fd00:0:ff::80", ""}, // its own: the kernel's route
	}
	for _, tt := range tests {
		rt, ok := Lookup(got[tt.router], netip.MustParseAddr(tt.addr))
		switch {
		case tt.dev == "" && ok && rt.Dst.Bits() >= 120:
			t.Errorf("%s routes its own %s by %s dev %s", tt.router, tt.addr, rt.Dst, rt.Dev)
		case tt.dev != "" && (!ok || rt.Dev != tt.dev):
			t.Errorf("%s: %s resolves to %+v (found %v), want dev %s", tt.router, tt.addr, rt, ok, tt.dev)
		}
	}
}

// perDestination is the uncompressed underlay (one route per remote
// destination, sr6's table before compression), for comparison.
func perDestination(nw *topo.Network) map[string]int {
	owners, order := destinations(nw)
	out := map[string]int{}
	for _, r := range nw.NodesWith(topo.Underlay) {
		dist, _ := ShortestPaths(nw, r)
		n := 0
		for _, p := range order {
			local, reach := false, false
			for _, o := range owners[p] {
				local = local || o == r
				_, ok := dist[o]
				reach = reach || ok
			}
			if !local && reach {
				n++
			}
		}
		out[r.Name] = n + len(Attached(r))
	}
	return out
}

// TestStaticCompression: the 32x32 grid needs far fewer routes than one
// per destination.
func TestStaticCompression(t *testing.T) {
	for _, tt := range []struct {
		o      gen.Options
		factor int // at least this many times fewer routes in all
	}{
		{gen.Options{Shape: "grid", Rows: 32, Cols: 32, Hosts: 1}, 50},
		{gen.Options{Shape: "fattree", K: 8, Hosts: 1}, 3},
		{gen.Options{Shape: "ring", Routers: 100, Hosts: 1}, 20},
	} {
		t.Run(tt.o.CommandLine(), func(t *testing.T) {
			nw := genNetwork(t, tt.o)
			before := perDestination(nw)
			after := Static(nw)
			var b, a, bmax, amax int
			for _, r := range nw.NodesWith(topo.Underlay) {
				b, a = b+before[r.Name], a+len(after[r.Name])
				bmax, amax = max(bmax, before[r.Name]), max(amax, len(after[r.Name]))
			}
			n := len(after)
			t.Logf("%s: %d routers: routes per router before %d avg / %d max, after %.1f avg / %d max; total %d -> %d (%.0fx fewer)",
				tt.o.CommandLine(), n, b/n, bmax, float64(a)/float64(n), amax, b, a, float64(b)/float64(a))
			if a*tt.factor > b {
				t.Errorf("%d routes after compression, want at most 1/%d of %d", a, tt.factor, b)
			}
		})
	}
}

// BenchmarkStaticGrid32: the whole static underlay of the 1,024-router
// grid (what a deploy and every controller recomputation pay).
func BenchmarkStaticGrid32(b *testing.B) {
	nw := genNetwork(b, gen.Options{Shape: "grid", Rows: 32, Cols: 32, Hosts: 1})
	b.ReportAllocs()
	for b.Loop() {
		Static(nw)
	}
}
