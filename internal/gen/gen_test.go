package gen_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/gen"
	"github.com/sr6net/sr6/internal/topo"
)

// want is what a shape implies for a set of options.
type want struct {
	routers, hosts, routerLinks int
	attach                      []string // router of h1, h2, ... in order
}

// implied computes the expected sizes from the shape's formulas, apart from
// the generator.
func implied(o gen.Options) want {
	var w want
	var at []int
	switch o.Shape {
	case "line":
		w.routers, w.routerLinks = o.Routers, o.Routers-1
		at = []int{1, o.Routers}
	case "ring":
		w.routers, w.routerLinks = o.Routers, o.Routers
		at = []int{1, o.Routers/2 + 1}
	case "grid":
		w.routers = o.Rows * o.Cols
		w.routerLinks = o.Rows*(o.Cols-1) + o.Cols*(o.Rows-1)
		at = []int{1, o.Rows * o.Cols}
	case "fattree":
		k, half := o.K, o.K/2
		w.routers, w.routerLinks = 5*k*k/4, k*k*k/2
		for p := range k {
			for e := range half {
				at = append(at, half*half+p*k+half+e+1)
			}
		}
	}
	for _, r := range at {
		for range o.Hosts {
			w.attach = append(w.attach, fmt.Sprintf("r%d", r))
		}
	}
	w.hosts = len(w.attach)
	return w
}

// plan generates o and plans the result as sr6 would load it.
func plan(t *testing.T, o gen.Options) (*topo.Network, []byte) {
	t.Helper()
	data, err := gen.YAML(o)
	if err != nil {
		t.Fatalf("YAML(%+v): %v", o, err)
	}
	nw, err := topo.ParseNetwork("gen.yaml", data)
	if err != nil {
		t.Fatalf("generated topology does not plan: %v\n%s", err, head(data, 40))
	}
	return nw, data
}

func head(data []byte, lines int) string {
	ls := strings.SplitAfterN(string(data), "\n", lines+1)
	return strings.Join(ls[:min(lines, len(ls))], "")
}

// check verifies sizes, connectivity, interface naming and host placement.
func check(t *testing.T, o gen.Options, nw *topo.Network) {
	t.Helper()
	w := implied(o)
	routers := nw.NodesWith(topo.Underlay)
	if got := len(routers); got != w.routers {
		t.Errorf("routers: got %d, want %d", got, w.routers)
	}
	if got := len(nw.Nodes) - len(routers); got != w.hosts {
		t.Errorf("hosts: got %d, want %d", got, w.hosts)
	}
	if got := len(nw.Links); got != w.routerLinks+w.hosts {
		t.Errorf("links: got %d, want %d router links + %d host links", got, w.routerLinks, w.hosts)
	}
	metric := topo.DefaultMetric
	if o.Metric != 0 {
		metric = o.Metric
	}
	routerLinks := 0
	for _, l := range nw.Links {
		if l.IsCore() {
			routerLinks++
			if l.Metric != metric {
				t.Errorf("link %s: metric %d, want %d", l, l.Metric, metric)
			}
		}
	}
	if routerLinks != w.routerLinks {
		t.Errorf("router links: got %d, want %d", routerLinks, w.routerLinks)
	}

	// Nodes come routers first, named r1..rN, then hosts h1..hM.
	for i, n := range nw.Nodes {
		name := fmt.Sprintf("r%d", i+1)
		if i >= w.routers {
			name = fmt.Sprintf("h%d", i-w.routers+1)
		}
		if n.Name != name || n.Has(topo.Underlay) != (i < w.routers) {
			t.Fatalf("node %d is %s (%s), want %s", i, n.Name, n.Kind, name)
		}
	}
	// Interfaces are eth1, eth2, ... in link order on routers, eth0 on hosts.
	for _, n := range nw.Nodes {
		for j, ifc := range n.Interfaces {
			name := fmt.Sprintf("eth%d", j+1)
			if !n.Has(topo.Underlay) {
				name = "eth0"
			}
			if ifc.Name != name {
				t.Errorf("%s: interface %d is %s, want %s", n.Name, j, ifc.Name, name)
			}
		}
		if !n.Has(topo.Underlay) && len(n.Interfaces) != 1 {
			t.Errorf("host %s has %d interfaces, want 1", n.Name, len(n.Interfaces))
		}
	}
	for i, r := range w.attach {
		h := nw.Node(fmt.Sprintf("h%d", i+1))
		if h == nil || h.AttachedRouter() == nil || h.AttachedRouter().Name != r {
			t.Errorf("h%d: not attached to %s", i+1, r)
		}
	}
	if n := reachable(nw); n != len(nw.Nodes) {
		t.Errorf("only %d of %d nodes are connected to %s", n, len(nw.Nodes), nw.Nodes[0].Name)
	}
	if nw.Name != o.Name && o.Name != "" {
		t.Errorf("name %q, want %q", nw.Name, o.Name)
	}
	routing := o.Routing
	if routing == "" {
		routing = topo.RoutingStatic
	}
	if nw.Routing != routing {
		t.Errorf("routing %q, want %q", nw.Routing, routing)
	}
}

// reachable counts the nodes a breadth-first search over nw.Links reaches
// from the first node.
func reachable(nw *topo.Network) int {
	adj := map[*topo.Node][]*topo.Node{}
	for _, l := range nw.Links {
		a, b := l.A.Node, l.B.Node
		adj[a] = append(adj[a], b)
		adj[b] = append(adj[b], a)
	}
	seen := map[*topo.Node]bool{nw.Nodes[0]: true}
	queue := []*topo.Node{nw.Nodes[0]}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, m := range adj[n] {
			if !seen[m] {
				seen[m] = true
				queue = append(queue, m)
			}
		}
	}
	return len(seen)
}

func TestShapes(t *testing.T) {
	for _, o := range []gen.Options{
		{Shape: "line", Routers: 2, Hosts: 1},
		{Shape: "line", Routers: 3},
		{Shape: "line", Routers: 7, Hosts: 3, Routing: "isis", Metric: 25},
		{Shape: "ring", Routers: 3, Hosts: 1},
		{Shape: "ring", Routers: 8, Hosts: 2, Name: "my-ring"},
		{Shape: "ring", Routers: 9, Hosts: 1, Metric: 10},
		{Shape: "grid", Rows: 1, Cols: 2, Hosts: 1},
		{Shape: "grid", Rows: 2, Cols: 2, Hosts: 1},
		{Shape: "grid", Rows: 3, Cols: 4, Hosts: 2, Routing: "static"},
		{Shape: "grid", Rows: 5, Cols: 1},
		{Shape: "fattree", K: 2, Hosts: 1},
		{Shape: "fattree", K: 4, Hosts: 1},
		{Shape: "fattree", K: 6, Hosts: 3, Routing: "isis"},
	} {
		t.Run(strings.TrimPrefix(o.CommandLine(), "sr6 gen "), func(t *testing.T) {
			nw, data := plan(t, o)
			check(t, o, nw)
			again, err := gen.YAML(o)
			if err != nil || !bytes.Equal(again, data) {
				t.Errorf("second generation differs (err %v)", err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			if !strings.HasPrefix(first, "# Generated by: sr6 gen "+o.Shape+" ") {
				t.Errorf("header %q does not give the sr6 gen command", first)
			}
		})
	}
}

// The header's command line, run again, gives the same file.
func TestCommandLineRoundTrip(t *testing.T) {
	o := gen.Options{Shape: "grid", Rows: 3, Cols: 5, Hosts: 2, Routing: "isis", Metric: 7}
	tp, err := gen.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	want := "sr6 gen grid --rows 3 --cols 5 --hosts 2 --name grid3x5 --routing isis --metric 7"
	if got := tp.Options.CommandLine(); got != want {
		t.Errorf("command line %q, want %q", got, want)
	}
	again, err := gen.YAML(tp.Options)
	if err != nil || !bytes.Equal(again, tp.YAML()) {
		t.Errorf("regenerating from the normalized options differs (err %v)", err)
	}
}

func TestFatTreeRoles(t *testing.T) {
	o := gen.Options{Shape: "fattree", K: 4, Hosts: 1}
	nw, data := plan(t, o)
	for _, line := range []string{
		"  r1: {kind: router}   # c1 core\n",
		"  r5: {kind: router}   # a1 aggregation, pod 1\n",
		"  r7: {kind: router}   # e1 edge, pod 1\n",
		"  r20: {kind: router}  # e8 edge, pod 4\n",
	} {
		if !bytes.Contains(data, []byte(line)) {
			t.Errorf("missing node line %q", line)
		}
	}
	// Every core and aggregation router has k links; edge routers have
	// k/2 uplinks plus their hosts.
	for i, r := range nw.NodesWith(topo.Underlay) {
		want := 4
		if (i-4)%4 >= 2 {
			want = 2 + o.Hosts
		}
		if got := len(r.Interfaces); got != want {
			t.Errorf("%s has %d interfaces, want %d", r.Name, got, want)
		}
	}
}

// More than 255 host links do not fit the default hosts4 10.0.0.0/16 in
// /24s: the generator then widens the pool to 10.0.0.0/8.
func TestHosts4Pool(t *testing.T) {
	wide := netip.MustParsePrefix("10.0.0.0/8")
	for _, tc := range []struct {
		o    gen.Options
		wide bool
	}{
		{gen.Options{Shape: "line", Routers: 2, Hosts: 127}, false}, // 254 host links
		{gen.Options{Shape: "line", Routers: 2, Hosts: 128}, true},  // 256
		{gen.Options{Shape: "fattree", K: 22, Hosts: 1}, false},     // 242
		{gen.Options{Shape: "fattree", K: 24, Hosts: 1}, true},      // 288
		{gen.Options{Shape: "fattree", K: 8, Hosts: 16}, true},      // 512
	} {
		nw, data := plan(t, tc.o)
		check(t, tc.o, nw)
		if got := bytes.Contains(data, []byte("plan: {hosts4: 10.0.0.0/8}\n")); got != tc.wide {
			t.Errorf("%+v: plan hosts4 written %v, want %v", tc.o, got, tc.wide)
		}
		if got := nw.Pools.Hosts4 == wide; got != tc.wide {
			t.Errorf("%+v: hosts4 pool %s", tc.o, nw.Pools.Hosts4)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		o    gen.Options
		want string
	}{
		{gen.Options{}, "a shape is required: line, ring, grid, fattree"},
		{gen.Options{Shape: "star", Routers: 4}, `unknown shape "star"; allowed shapes: line, ring, grid, fattree`},
		{gen.Options{Shape: "line"}, "--routers is required for a line: 2 to 65535"},
		{gen.Options{Shape: "line", Routers: 1}, "--routers must be at least 2 for a line, got 1"},
		{gen.Options{Shape: "ring", Routers: 2}, "--routers must be at least 3 for a ring, got 2"},
		{gen.Options{Shape: "ring", Routers: -4}, "--routers must be at least 3 for a ring, got -4"},
		{gen.Options{Shape: "ring", Routers: 65536}, "--routers must be at most 65535, got 65536"},
		{gen.Options{Shape: "ring", Routers: 5, Rows: 2}, "--rows and --cols apply only to a grid; size a ring with --routers N"},
		{gen.Options{Shape: "line", Routers: 5, K: 4}, "-k applies only to a fattree"},
		{gen.Options{Shape: "grid", Routers: 5, Rows: 2, Cols: 2}, "--routers applies only to a line or ring; size a grid with --rows R --cols C"},
		{gen.Options{Shape: "grid", Cols: 3}, "--rows is required for a grid"},
		{gen.Options{Shape: "grid", Rows: 3}, "--cols is required for a grid"},
		{gen.Options{Shape: "grid", Rows: -1, Cols: 3}, "--rows must be at least 1, got -1"},
		{gen.Options{Shape: "grid", Rows: 1, Cols: 1}, "--rows 1 --cols 1 is a single router: a grid needs at least 2"},
		{gen.Options{Shape: "grid", Rows: 300, Cols: 300}, "--rows 300 --cols 300 gives 90000 routers: at most 65535"},
		{gen.Options{Shape: "grid", Rows: 200, Cols: 200}, "--rows 200 --cols 200 gives 79600 router links: at most 65535 fit plan.links"},
		{gen.Options{Shape: "grid", Rows: 1 << 40, Cols: 1 << 40}, "--rows must be at most 65535, got 1099511627776"},
		{gen.Options{Shape: "fattree"}, "-k is required for a fattree: size a fattree with -k K (even, 2 to 50)"},
		{gen.Options{Shape: "fattree", K: 5}, "-k must be an even number from 2 to 50, got 5"},
		{gen.Options{Shape: "fattree", K: 52}, "-k must be an even number from 2 to 50, got 52"},
		{gen.Options{Shape: "fattree", K: 4, Routers: 20}, "--routers applies only to a line or ring"},
		{gen.Options{Shape: "line", Routers: 3, Hosts: -1}, "--hosts must be 0 or more, got -1"},
		{gen.Options{Shape: "line", Routers: 3, Hosts: 40000}, "--hosts must be at most 32767 for this line (2 attachment routers, at most 65535 host links), got 40000"},
		{gen.Options{Shape: "fattree", K: 50, Hosts: 53}, "--hosts must be at most 52 for this fattree (1250 attachment routers"},
		{gen.Options{Shape: "ring", Routers: 3, Name: "Big Ring"}, `--name "Big Ring" is not a lab name: 1 to 24 of a-z 0-9 _ -`},
		{gen.Options{Shape: "ring", Routers: 3, Routing: "ospf"}, `--routing must be static or isis, got "ospf"`},
		{gen.Options{Shape: "ring", Routers: 3, Metric: -1}, "--metric must be 1 to 16777215 (0 keeps the default 10), got -1"},
		{gen.Options{Shape: "ring", Routers: 3, Metric: 1 << 24}, "--metric must be 1 to 16777215"},
	} {
		_, err := gen.YAML(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("YAML(%+v): error %v, want one containing %q", tc.o, err, tc.want)
		}
	}
}

// The largest shapes the limits allow still plan.
func TestLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("plans tens of thousands of links")
	}
	for _, o := range []gen.Options{
		{Shape: "fattree", K: gen.MaxK, Hosts: 52},
		{Shape: "ring", Routers: gen.MaxRouters},
	} {
		nw, _ := plan(t, o)
		check(t, o, nw)
	}
}

func TestLarge(t *testing.T) {
	for _, tc := range []struct {
		o                     gen.Options
		routers, hosts, links int
	}{
		{gen.Options{Shape: "ring", Routers: 1000, Hosts: 1}, 1000, 2, 1002},
		{gen.Options{Shape: "fattree", K: 8, Hosts: 1}, 80, 32, 288},
		{gen.Options{Shape: "grid", Rows: 100, Cols: 100, Hosts: 1}, 10000, 2, 19802},
	} {
		t.Run(tc.o.Shape, func(t *testing.T) {
			start := time.Now()
			nw, data := plan(t, tc.o)
			took := time.Since(start)
			t.Logf("%s: %d bytes of YAML, generated and planned in %v", tc.o.CommandLine(), len(data), took)
			if took > time.Minute {
				t.Errorf("generating and planning took %v, want well under a minute", took)
			}
			check(t, tc.o, nw)
			routers := len(nw.NodesWith(topo.Underlay))
			if routers != tc.routers || len(nw.Nodes)-routers != tc.hosts || len(nw.Links) != tc.links {
				t.Errorf("got %d routers, %d hosts, %d links; want %d, %d, %d",
					routers, len(nw.Nodes)-routers, len(nw.Links), tc.routers, tc.hosts, tc.links)
			}
		})
	}
}
