package gen

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sr6net/sr6/internal/topo"
)

// Shapes are the topology shapes Generate knows, in the order help lists
// them.
var Shapes = []string{"line", "ring", "grid", "fattree"}

// Limits of the generated topologies, set by the default address plan (see
// the package documentation).
const (
	MaxRouters   = 65535 // router ids: /48 locators in fc00::/32
	MaxLinks     = 65535 // router links: /64s of plan.links fd00:0:1::/48
	MaxHostLinks = 65535 // host links: /64s of plan.hosts6 fd00:0:2::/48
	MaxK         = 50    // largest fat-tree: k^3/2 router links <= MaxLinks
	MaxMetric    = 16777215

	// DefaultHosts is what `sr6 gen --hosts` defaults to.
	DefaultHosts = 1

	// defaultHosts4Links is how many host /24s the default plan.hosts4
	// 10.0.0.0/16 holds (subnet 0 is never used); bigHosts4 holds 65535.
	defaultHosts4Links = 255
	bigHosts4          = "10.0.0.0/8"
)

// Options describe the topology to generate. Each error of Generate names
// the sr6 gen flag of the field at fault.
type Options struct {
	Shape string // line, ring, grid or fattree

	Routers    int // line (>= 2) and ring (>= 3): number of routers (--routers)
	Rows, Cols int // grid: rows x cols routers (--rows, --cols)
	K          int // fattree: even arity from 2 to MaxK (-k)

	// Hosts is the number of hosts on each attachment router (--hosts): the
	// two end routers of a line, r1 and the farthest router of a ring or
	// grid, every edge router of a fat-tree. 0 attaches no host.
	Hosts int

	Name    string // lab name (--name); "" gives shape and size, e.g. ring8
	Routing string // static or isis (--routing); "" is static
	Metric  int    // metric of every router link (--metric); 0 keeps the default 10
}

// Node is one generated node.
type Node struct {
	Name    string
	Kind    string // "router" or "host"
	Comment string // the role of a fat-tree router, else ""
}

// Link is one generated link between two "node:interface" endpoints.
type Link struct {
	A, B   string
	Metric int // 0: not written, the topology default applies
}

// Topology is a generated topology before it is written out.
type Topology struct {
	Options Options // as given, with Name and Routing defaulted
	Routers int
	Hosts   int
	Nodes   []Node // routers r1..rN, then hosts h1..hM
	Links   []Link // router links, then host links
	about   []string
}

// RouterLinks is the number of links between two routers.
func (t *Topology) RouterLinks() int { return len(t.Links) - t.Hosts }

// YAML generates the topology o describes and returns it as a topology
// file.
func YAML(o Options) ([]byte, error) {
	t, err := Generate(o)
	if err != nil {
		return nil, err
	}
	return t.YAML(), nil
}

// Generate checks o and builds the topology it describes.
func Generate(o Options) (*Topology, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	b := &builder{t: &Topology{Options: o}, next: map[string]int{}}
	switch o.Shape {
	case "line":
		b.line()
	case "ring":
		b.ring()
	case "grid":
		b.grid()
	case "fattree":
		b.fattree()
	}
	return b.t, nil
}

// normalize checks o and fills in the default name and routing.
func (o *Options) normalize() error {
	if o.Shape == "" {
		return fmt.Errorf("a shape is required: %s", strings.Join(Shapes, ", "))
	}
	if !slices.Contains(Shapes, o.Shape) {
		return fmt.Errorf("unknown shape %q; allowed shapes: %s", o.Shape, strings.Join(Shapes, ", "))
	}
	if err := o.checkSize(); err != nil {
		return err
	}
	attach := 2
	if o.Shape == "fattree" {
		attach = o.K * o.K / 2
	}
	switch {
	case o.Hosts < 0:
		return fmt.Errorf("--hosts must be 0 or more, got %d", o.Hosts)
	case o.Hosts > MaxHostLinks/attach:
		return fmt.Errorf("--hosts must be at most %d for this %s (%d attachment routers, at most %d host links), got %d",
			MaxHostLinks/attach, o.Shape, attach, MaxHostLinks, o.Hosts)
	}
	if o.Name == "" {
		o.Name = o.defaultName()
	}
	if err := topo.CheckLabName(o.Name); err != nil {
		return fmt.Errorf("--name %w", err)
	}
	switch o.Routing {
	case "":
		o.Routing = "static"
	case "static", "isis":
	default:
		return fmt.Errorf("--routing must be static or isis, got %q", o.Routing)
	}
	if o.Metric < 0 || o.Metric > MaxMetric {
		return fmt.Errorf("--metric must be 1 to %d (0 keeps the default 10), got %d", MaxMetric, o.Metric)
	}
	return nil
}

// checkSize checks the options that size the shape, and that no option of
// another shape is set.
func (o *Options) checkSize() error {
	if o.Shape != "grid" && (o.Rows != 0 || o.Cols != 0) {
		return fmt.Errorf("--rows and --cols apply only to a grid; %s", o.sizeHint())
	}
	if o.Shape != "fattree" && o.K != 0 {
		return fmt.Errorf("-k applies only to a fattree; %s", o.sizeHint())
	}
	if (o.Shape == "grid" || o.Shape == "fattree") && o.Routers != 0 {
		return fmt.Errorf("--routers applies only to a line or ring; %s", o.sizeHint())
	}
	switch o.Shape {
	case "line", "ring":
		least := 2
		if o.Shape == "ring" {
			least = 3
		}
		switch {
		case o.Routers == 0:
			return fmt.Errorf("--routers is required for a %s: %d to %d", o.Shape, least, MaxRouters)
		case o.Routers < least:
			return fmt.Errorf("--routers must be at least %d for a %s, got %d", least, o.Shape, o.Routers)
		case o.Routers > MaxRouters:
			return fmt.Errorf("--routers must be at most %d, got %d", MaxRouters, o.Routers)
		}
	case "grid":
		for _, f := range []struct {
			flag string
			v    int
		}{{"--rows", o.Rows}, {"--cols", o.Cols}} {
			switch {
			case f.v == 0:
				return fmt.Errorf("%s is required for a grid: %s", f.flag, o.sizeHint())
			case f.v < 1:
				return fmt.Errorf("%s must be at least 1, got %d", f.flag, f.v)
			case f.v > MaxRouters:
				return fmt.Errorf("%s must be at most %d, got %d", f.flag, MaxRouters, f.v)
			}
		}
		n := o.Rows * o.Cols
		switch {
		case n < 2:
			return errors.New("--rows 1 --cols 1 is a single router: a grid needs at least 2")
		case n > MaxRouters:
			return fmt.Errorf("--rows %d --cols %d gives %d routers: at most %d", o.Rows, o.Cols, n, MaxRouters)
		}
		if l := gridLinks(o.Rows, o.Cols); l > MaxLinks {
			return fmt.Errorf("--rows %d --cols %d gives %d router links: at most %d fit plan.links", o.Rows, o.Cols, l, MaxLinks)
		}
	case "fattree":
		if o.K == 0 {
			return fmt.Errorf("-k is required for a fattree: %s", o.sizeHint())
		}
		if o.K < 2 || o.K > MaxK || o.K%2 != 0 {
			return fmt.Errorf("-k must be an even number from 2 to %d, got %d", MaxK, o.K)
		}
	}
	return nil
}

func (o *Options) sizeHint() string {
	switch o.Shape {
	case "line":
		return "size a line with --routers N (2 to 65535)"
	case "ring":
		return "size a ring with --routers N (3 to 65535)"
	case "grid":
		return "size a grid with --rows R --cols C (at least 2 routers)"
	}
	return fmt.Sprintf("size a fattree with -k K (even, 2 to %d)", MaxK)
}

func gridLinks(rows, cols int) int { return rows*(cols-1) + cols*(rows-1) }

func (o *Options) defaultName() string {
	switch o.Shape {
	case "grid":
		return fmt.Sprintf("grid%dx%d", o.Rows, o.Cols)
	case "fattree":
		return fmt.Sprintf("fattree%d", o.K)
	}
	return o.Shape + strconv.Itoa(o.Routers)
}

// CommandLine is the sr6 gen command that generates the topology of o; it
// heads every generated file.
func (o Options) CommandLine() string {
	args := []string{"sr6", "gen", o.Shape}
	switch o.Shape {
	case "grid":
		args = append(args, "--rows", strconv.Itoa(o.Rows), "--cols", strconv.Itoa(o.Cols))
	case "fattree":
		args = append(args, "-k", strconv.Itoa(o.K))
	default:
		args = append(args, "--routers", strconv.Itoa(o.Routers))
	}
	args = append(args, "--hosts", strconv.Itoa(o.Hosts))
	if o.Name != "" {
		args = append(args, "--name", o.Name)
	}
	if o.Routing != "" {
		args = append(args, "--routing", o.Routing)
	}
	if o.Metric != 0 {
		args = append(args, "--metric", strconv.Itoa(o.Metric))
	}
	return strings.Join(args, " ")
}

// builder adds nodes and links, numbering each node's interfaces in link
// order.
type builder struct {
	t     *Topology
	next  map[string]int // next interface number of each router
	hosts [][2]string    // host links, written after the router links
}

func routerName(i int) string { return "r" + strconv.Itoa(i) }

// routers adds routers r1..rn.
func (b *builder) routers(n int) {
	for i := 1; i <= n; i++ {
		b.t.Nodes = append(b.t.Nodes, Node{Name: routerName(i), Kind: "router"})
	}
	b.t.Routers = n
}

func (b *builder) iface(router string) string {
	b.next[router]++
	return router + ":eth" + strconv.Itoa(b.next[router])
}

// link joins routers i and j.
func (b *builder) link(i, j int) {
	x, y := routerName(i), routerName(j)
	b.t.Links = append(b.t.Links, Link{A: b.iface(x), B: b.iface(y), Metric: b.t.Options.Metric})
}

// attach hangs Options.Hosts new hosts off each of the routers rs, in order.
func (b *builder) attach(rs ...int) {
	for _, r := range rs {
		for range b.t.Options.Hosts {
			b.t.Hosts++
			h := "h" + strconv.Itoa(b.t.Hosts)
			b.t.Nodes = append(b.t.Nodes, Node{Name: h, Kind: "host"})
			b.hosts = append(b.hosts, [2]string{h, routerName(r)})
		}
	}
	// Host links follow every router link, so a router's host interfaces
	// come after its router interfaces.
	for _, hl := range b.hosts {
		b.t.Links = append(b.t.Links, Link{A: hl[0] + ":eth0", B: b.iface(hl[1])})
	}
	b.hosts = nil
}

func (b *builder) about(format string, args ...any) {
	b.t.about = append(b.t.about, fmt.Sprintf(format, args...))
}

// hostsOn describes which hosts sit on routers first and last.
func (b *builder) hostsOn(first, last int, lastWhy string) {
	h := b.t.Options.Hosts
	switch h {
	case 0:
		b.about("No hosts.")
	case 1:
		b.about("Hosts: h1 on r%d, h2 on r%d%s.", first, last, lastWhy)
	default:
		b.about("Hosts: h1-h%d on r%d, h%d-h%d on r%d%s.", h, first, h+1, 2*h, last, lastWhy)
	}
}

// chain draws routers r1..rn in a line, eliding the middle of long ones.
func chain(n int) string {
	if n > 4 {
		return "r1 -- r2 -- ... -- " + routerName(n)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = routerName(i + 1)
	}
	return strings.Join(names, " -- ")
}

func (b *builder) line() {
	n := b.t.Options.Routers
	b.routers(n)
	for i := 1; i < n; i++ {
		b.link(i, i+1)
	}
	b.about("A line of %d routers: %s.", n, chain(n))
	b.hostsOn(1, n, "")
	b.attach(1, n)
}

func (b *builder) ring() {
	n := b.t.Options.Routers
	b.routers(n)
	for i := 1; i < n; i++ {
		b.link(i, i+1)
	}
	b.link(n, 1)
	far := n/2 + 1
	b.about("A ring of %d routers: %s -- r1.", n, chain(n))
	b.hostsOn(1, far, fmt.Sprintf(" (%d hops away, the farthest)", n/2))
	b.attach(1, far)
}

func (b *builder) grid() {
	rows, cols := b.t.Options.Rows, b.t.Options.Cols
	b.routers(rows * cols)
	at := func(i, j int) int { return i*cols + j + 1 } // 0-based row, column
	for i := range rows {
		for j := 0; j+1 < cols; j++ {
			b.link(at(i, j), at(i, j+1))
		}
		if i+1 < rows {
			for j := range cols {
				b.link(at(i, j), at(i+1, j))
			}
		}
	}
	last := rows * cols
	b.about("A %dx%d grid: router r((row-1)*%d+col) sits at row, col (1-based) and", rows, cols, cols)
	b.about("links to its right and lower neighbours; r1 is top-left, r%d bottom-right.", last)
	b.hostsOn(1, last, fmt.Sprintf(" (%d hops away, the farthest)", rows+cols-2))
	b.attach(1, last)
}

func (b *builder) fattree() {
	k := b.t.Options.K
	half := k / 2
	cores := half * half
	b.routers(cores + k*k)
	agg := func(p, a int) int { return cores + p*k + a + 1 }
	edge := func(p, e int) int { return cores + p*k + half + e + 1 }
	for c := range cores {
		b.t.Nodes[c].Comment = fmt.Sprintf("c%d core", c+1)
	}
	for p := range k {
		for i := range half {
			b.t.Nodes[agg(p, i)-1].Comment = fmt.Sprintf("a%d aggregation, pod %d", p*half+i+1, p+1)
			b.t.Nodes[edge(p, i)-1].Comment = fmt.Sprintf("e%d edge, pod %d", p*half+i+1, p+1)
		}
	}
	// Core-aggregation links first, then aggregation-edge links: each
	// router's uplinks get the lowest interface numbers, and core router
	// interface ethP leads to pod P.
	for p := range k {
		for a := range half {
			for j := range half {
				b.link(a*half+j+1, agg(p, a))
			}
		}
	}
	for p := range k {
		for a := range half {
			for e := range half {
				b.link(agg(p, a), edge(p, e))
			}
		}
	}
	b.about("A k=%d fat-tree of %d routers: %d core (r1-r%d), then %d pods of %d", k, cores+k*k, cores, cores, k, half)
	b.about("aggregation and %d edge routers each. Aggregation router i of a pod", half)
	b.about("links to core routers (i-1)*%d+1 to i*%d and to every edge router of its pod.", half, half)
	if h := b.t.Options.Hosts; h == 0 {
		b.about("No hosts.")
	} else {
		b.about("Hosts: %d on each edge router (h1-h%d).", h, h*k*half)
	}
	var edges []int
	for p := range k {
		for e := range half {
			edges = append(edges, edge(p, e))
		}
	}
	b.attach(edges...)
}

// YAML writes t as a topology file: a header saying how it was generated,
// then flow-style nodes and links like the examples.
func (t *Topology) YAML() []byte {
	var b strings.Builder
	b.Grow(64 + 48*len(t.Nodes) + 40*len(t.Links))
	fmt.Fprintf(&b, "# Generated by: %s\n", t.Options.CommandLine())
	for _, l := range t.about {
		b.WriteString("# " + l + "\n")
	}
	fmt.Fprintf(&b, "# %d routers, %d hosts, %d links (%d between routers).\n",
		t.Routers, t.Hosts, len(t.Links), t.RouterLinks())
	b.WriteString("version: 1\n")
	b.WriteString("name: " + t.Options.Name + "\n")
	b.WriteString("routing: " + t.Options.Routing + "\n")
	if t.Hosts > defaultHosts4Links {
		fmt.Fprintf(&b, "# More than %d host links: the default hosts4 10.0.0.0/16 is too small.\n", defaultHosts4Links)
		b.WriteString("plan: {hosts4: " + bigHosts4 + "}\n")
	}
	b.WriteString("nodes:\n")
	width := 0
	for _, n := range t.Nodes {
		if n.Comment != "" {
			width = max(width, len(n.Name)+len(n.Kind))
		}
	}
	for _, n := range t.Nodes {
		entry := n.Name + ": {kind: " + n.Kind + "}"
		if n.Comment != "" {
			entry += strings.Repeat(" ", width-len(n.Name)-len(n.Kind)) + "  # " + n.Comment
		}
		b.WriteString("  " + entry + "\n")
	}
	b.WriteString("links:\n")
	for _, l := range t.Links {
		b.WriteString("  - endpoints: [" + l.A + ", " + l.B + "]\n")
		if l.Metric != 0 {
			b.WriteString("    metric: " + strconv.Itoa(l.Metric) + "\n")
		}
	}
	return []byte(b.String())
}
