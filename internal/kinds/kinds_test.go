package kinds_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/kinds/host"
	"github.com/sr6net/sr6/internal/kinds/router"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// fake is a kind defined only in this test: what a later issue's kind (a
// VNF, a spine) looks like to the registry. Nothing in topo, underlay, lab
// or controller knows its name.
type fake struct {
	name    string
	traits  topo.Traits
	daemons []kinds.Daemon
	mtu     int
}

func (f fake) Name() string                                     { return f.name }
func (f fake) Traits() topo.Traits                              { return f.traits }
func (f fake) Sysctls(*topo.Node) map[string]string             { return kinds.BaseSysctls() }
func (f fake) Loopback(*topo.Node) []netip.Prefix               { return nil }
func (f fake) LocalSIDs(*topo.Node) []kinds.LocalSID            { return nil }
func (f fake) MTU(*topo.Interface) int                          { return f.mtu }
func (f fake) Daemons(*topo.Network, *topo.Node) []kinds.Daemon { return f.daemons }

// testRegistry registers, after router and host, a vnf (an SRv6 node
// outside the underlay: it gets a locator and SIDs but hangs off a router,
// like a host) and a spine (a second underlay kind, which runs no agent).
func testRegistry(t *testing.T) *kinds.Registry {
	t.Helper()
	vnf := fake{name: "vnf", traits: topo.SRv6, daemons: []kinds.Daemon{kinds.DaemonAgent}, mtu: 1400}
	spine := fake{name: "spine", traits: topo.Underlay | topo.SRv6, mtu: kinds.CoreMTU}
	reg, err := kinds.New(router.Kind{}, host.Kind{}, vnf, spine)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// fakeTopo: h1 -- r1 -- s1 -- r2 -- v1, where s1 is a spine and v1 a vnf.
const fakeTopo = `name: fk
nodes:
  r1: {kind: router}
  s1: {kind: spine}
  r2: {kind: router}
  v1: {kind: vnf}
  h1: {kind: host}
links:
  - endpoints: [r1:eth1, s1:eth1]
  - endpoints: [s1:eth2, r2:eth1]
  - endpoints: [r2:eth2, v1:eth0]
  - endpoints: [h1:eth0, r1:eth0]
`

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// TestFakeKindsPlan: kinds that only a test registry knows are validated
// and planned by their traits: the spine like a router, the vnf with an id,
// loopback and locator of its own but edge addresses like a host.
func TestFakeKindsPlan(t *testing.T) {
	nw, err := testRegistry(t).ParseNetwork("fk.yaml", []byte(fakeTopo))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		node     string
		traits   topo.Traits
		id       int
		loopback string
		locator  string
		gateway  string
	}{
		{"r1", topo.Underlay | topo.SRv6, 1, "fd00:0:ff::1", "fc00:0:1::/48", ""},
		{"s1", topo.Underlay | topo.SRv6, 2, "fd00:0:ff::2", "fc00:0:2::/48", ""},
		{"r2", topo.Underlay | topo.SRv6, 3, "fd00:0:ff::3", "fc00:0:3::/48", ""},
		{"v1", topo.SRv6, 4, "fd00:0:ff::4", "fc00:0:4::/48", "r2:eth2"},
		{"h1", 0, 0, "invalid IP", "invalid Prefix", "r1:eth0"},
	} {
		n := nw.Node(tt.node)
		if n.Traits != tt.traits || n.ID != tt.id || n.Loopback.String() != tt.loopback || n.Locator.String() != tt.locator {
			t.Errorf("%s: traits %s id %d loopback %s locator %s, want %s %d %s %s", tt.node,
				n.Traits, n.ID, n.Loopback, n.Locator, tt.traits, tt.id, tt.loopback, tt.locator)
		}
		gw := ""
		if g := n.Gateway(); g != nil {
			gw = g.Node.Name + ":" + g.Name
		}
		if gw != tt.gateway {
			t.Errorf("%s: gateway %q, want %q", tt.node, gw, tt.gateway)
		}
	}
	if v1 := nw.Node("v1"); v1.SIDs.End != addr("fc00:0:4::1") || v1.Probe != addr("fc00:0:4::5") {
		t.Errorf("v1 SIDs %+v probe %s", v1.SIDs, v1.Probe)
	}
	for _, tt := range []struct {
		link           int
		core           bool
		subnet6, addrA string
		subnet4        string
	}{
		{0, true, "fd00:0:1:1::/64", "fd00:0:1:1::1/64", "invalid Prefix"},
		{1, true, "fd00:0:1:2::/64", "fd00:0:1:2::1/64", "invalid Prefix"},
		// The vnf's link is an edge link: the router side takes ::1.
		{2, false, "fd00:0:2:1::/64", "fd00:0:2:1::1/64", "10.0.1.0/24"},
		{3, false, "fd00:0:2:2::/64", "fd00:0:2:2::2/64", "10.0.2.0/24"},
	} {
		l := nw.Links[tt.link]
		if l.IsCore() != tt.core || l.Subnet6.String() != tt.subnet6 || l.A.Addr6.String() != tt.addrA || l.Subnet4.String() != tt.subnet4 {
			t.Errorf("link %s: core %v %s %s %s, want %v %s %s %s", l, l.IsCore(), l.Subnet6, l.A.Addr6, l.Subnet4,
				tt.core, tt.subnet6, tt.addrA, tt.subnet4)
		}
	}
	// End.X SIDs on core links only, whatever the underlay kind.
	for _, tt := range []struct {
		node, iface string
		adj         string
	}{
		{"r1", "eth1", "fc00:0:1::e001"}, // r1's first interface
		{"s1", "eth1", "fc00:0:2::e001"},
		{"s1", "eth2", "fc00:0:2::e002"},
		{"r2", "eth2", "invalid IP"},
		{"v1", "eth0", "invalid IP"},
	} {
		if got := nw.Node(tt.node).Iface(tt.iface).AdjSID.String(); got != tt.adj {
			t.Errorf("%s:%s End.X = %s, want %s", tt.node, tt.iface, got, tt.adj)
		}
	}
	if got := names(nw.NodesWith(topo.Underlay)); !slices.Equal(got, []string{"r1", "s1", "r2"}) {
		t.Errorf("underlay nodes = %v", got)
	}
}

func names(ns []*topo.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

// TestFakeKindsStaticUnderlay: the static underlay transits the spine and
// reaches the vnf's loopback and locator through its gateway, which routes
// them to the vnf's edge address.
func TestFakeKindsStaticUnderlay(t *testing.T) {
	nw, err := testRegistry(t).ParseNetwork("fk.yaml", []byte(fakeTopo))
	if err != nil {
		t.Fatal(err)
	}
	got := underlay.Static(nw)
	r := func(dst, via, dev string) underlay.Route {
		return underlay.Route{Dst: pfx(dst), Via: addr(via), Dev: dev}
	}
	// Compressed: one route for all of fc00::/7 towards the rest of the
	// line, and the exceptions on the spine, which sits in the middle.
	want := map[string][]underlay.Route{
		"r1": {r("fc00::/7", "fd00:0:1:1::2", "eth1")},
		"s1": {
			r("fc00::/7", "fd00:0:1:2::2", "eth2"),
			r("fc00:0:1::/48", "fd00:0:1:1::1", "eth1"),
			r("fd00:0:2:2::/64", "fd00:0:1:1::1", "eth1"),
			r("fd00:0:ff::1/128", "fd00:0:1:1::1", "eth1"),
		},
		"r2": {
			r("fc00::/7", "fd00:0:1:2::1", "eth1"),
			// Attached: the vnf's own prefixes, through its edge address.
			r("fd00:0:ff::4/128", "fd00:0:2:1::2", "eth2"),
			r("fc00:0:4::/48", "fd00:0:2:1::2", "eth2"),
		},
	}
	if len(got) != len(want) {
		t.Errorf("static underlay for %d nodes, want %d (underlay nodes only)", len(got), len(want))
	}
	for node, w := range want {
		if !slices.Equal(got[node], w) {
			t.Errorf("%s routes:\n%v\nwant\n%v", node, got[node], w)
		}
	}
	// The vnf, outside the underlay, defaults through its gateway.
	hr := underlay.HostRoutes(nw.Node("v1"))
	if want := []underlay.Route{r("0.0.0.0/0", "10.0.1.1", "eth0"), r("::/0", "fd00:0:2:1::1", "eth0")}; !slices.Equal(hr, want) {
		t.Errorf("vnf default routes = %v, want %v", hr, want)
	}
	if split := underlay.Split(nw); len(split) != 1 || !slices.Equal(split[0], []string{"r1", "r2", "s1"}) {
		t.Errorf("split = %v, want one group of the underlay nodes", split)
	}
}

// TestFakeKindsISIS: with IS-IS, the spine runs point-to-point circuits
// like a router, and the vnf's gateway advertises the vnf's loopback and
// locator (and nothing else sr6 puts in its kernel).
func TestFakeKindsISIS(t *testing.T) {
	src := strings.Replace(fakeTopo, "name: fk\n", "name: fk\nrouting: isis\n", 1)
	nw, err := testRegistry(t).ParseNetwork("fk.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r2 := underlay.ISISConfig(nw.Node("r2")).ISISd
	for _, want := range []string{
		"ipv6 prefix-list SR6-LOCATOR seq 5 permit fc00:0:3::/48\n" +
			"ipv6 prefix-list SR6-LOCATOR seq 10 permit fd00:0:ff::4/128\n" +
			"ipv6 prefix-list SR6-LOCATOR seq 15 permit fc00:0:4::/48\n!\n",
		"interface eth1\n ipv6 router isis sr6\n isis network point-to-point\n",
		"interface eth2\n ipv6 router isis sr6\n isis passive\n",
	} {
		if !strings.Contains(r2, want) {
			t.Errorf("r2 isisd.conf lacks\n%s\nin\n%s", want, r2)
		}
	}
	s1 := underlay.ISISConfig(nw.Node("s1")).ISISd
	if n := strings.Count(s1, "isis network point-to-point"); n != 2 {
		t.Errorf("spine has %d point-to-point circuits, want 2:\n%s", n, s1)
	}
	if strings.Contains(s1, "seq 10") {
		t.Errorf("spine advertises more than its locator:\n%s", s1)
	}
	// In IS-IS mode the lab installs only the attached routes by hand.
	if got := underlay.Attached(nw.Node("r2")); len(got) != 2 || got[1].Dst != pfx("fc00:0:4::/48") {
		t.Errorf("attached routes of r2 = %v", got)
	}
}

// TestFakeKindsValidation: error messages name the registry's kinds, and
// trait rules apply to kinds topo has never heard of.
func TestFakeKindsValidation(t *testing.T) {
	reg := testRegistry(t)
	for _, tt := range []struct {
		name, src, want string
	}{
		{"unknown kind", "name: x\nnodes:\n  a: {kind: pod}\n",
			`fk.yaml:3:13: nodes.a.kind: unknown kind "pod"; allowed values: router, host, vnf, spine`},
		{"vnf may set its id", "name: x\nnodes:\n  r1: {kind: router}\n  v1: {kind: vnf, id: 9}\nlinks:\n  - endpoints: [r1:e0, v1:e0]\n", ""},
		{"host may not", "name: x\nnodes:\n  r1: {kind: router}\n  h1: {kind: host, id: 9}\nlinks:\n  - endpoints: [r1:e0, h1:e0]\n",
			"fk.yaml:4:24: nodes.h1.id: only routers or vnfs or spines have id"},
		{"vnf to host", "name: x\nnodes:\n  v1: {kind: vnf}\n  h1: {kind: host}\nlinks:\n  - endpoints: [v1:e0, h1:e0]\n",
			"fk.yaml:6:24: links[0].endpoints: vnf and host v1 and h1 cannot be linked directly: vnfs or hosts attach to routers or spines"},
		{"lonely vnf", "name: x\nnodes:\n  r1: {kind: router}\n  v1: {kind: vnf}\n",
			"fk.yaml:4:3: nodes.v1: vnf has no link: link it to a router or spine"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.ParseNetwork("fk.yaml", []byte(tt.src))
			var got string
			if err != nil {
				var el topo.ErrorList
				if !errors.As(err, &el) {
					t.Fatalf("error %v is not an ErrorList", err)
				}
				got = el[0].Error()
				if len(el) > 1 {
					t.Errorf("more errors than one: %v", err)
				}
			}
			if got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		name  string
		kinds []kinds.Kind
		want  string
	}{
		{"ok", []kinds.Kind{router.Kind{}, host.Kind{}}, ""},
		{"none", nil, "at least one kind"},
		{"twice", []kinds.Kind{router.Kind{}, router.Kind{}}, `kind "router" is registered twice`},
		{"no name", []kinds.Kind{fake{}}, "has no name"},
		{"underlay without SRv6", []kinds.Kind{fake{name: "ip", traits: topo.Underlay}}, "every underlay node must be an SRv6 node"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kinds.New(tt.kinds...)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestRegistryQueries(t *testing.T) {
	reg := testRegistry(t)
	nw, err := reg.ParseNetwork("fk.yaml", []byte(fakeTopo))
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.Names(); !slices.Equal(got, []string{"router", "host", "vnf", "spine"}) {
		t.Errorf("names = %v", got)
	}
	if tr, ok := reg.Traits("vnf"); !ok || tr != topo.SRv6 {
		t.Errorf("traits(vnf) = %s, %v", tr, ok)
	}
	if _, ok := reg.Traits("pod"); ok {
		t.Error("traits(pod) found")
	}
	// The kinds decide who runs what: the spine runs no agent, the vnf does.
	agents, err := reg.NodesRunning(nw, kinds.DaemonAgent)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(agents); !slices.Equal(got, []string{"r1", "r2", "v1"}) {
		t.Errorf("nodes running the agent = %v", got)
	}
	for _, tt := range []struct {
		link int
		want int
	}{
		{0, kinds.CoreMTU}, // router -- spine: both ends want jumbo frames
		{2, 1400},          // router -- vnf: the smaller end wins
		{3, kinds.EdgeMTU}, // host -- router
	} {
		if got, err := reg.LinkMTU(nw.Links[tt.link]); err != nil || got != tt.want {
			t.Errorf("MTU of %s = %d, %v; want %d", nw.Links[tt.link], got, err, tt.want)
		}
	}
	// A link's own mtu (from the file) wins over what its ends' kinds want,
	// in both directions.
	for _, mtu := range []int{1280, 9500} {
		l := *nw.Links[0]
		l.MTU = mtu
		if got, err := reg.LinkMTU(&l); err != nil || got != mtu {
			t.Errorf("MTU of %s with mtu %d = %d, %v", &l, mtu, got, err)
		}
	}
	// A node of a kind this registry does not know gets a clear error.
	pod := &topo.Node{Name: "p1", Kind: "pod"}
	if _, err := reg.Of(pod); err == nil || !strings.Contains(err.Error(), `node p1: unknown kind "pod"`) {
		t.Errorf("Of(pod) = %v", err)
	}
}
