package topo

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

// wantRouter is the planned identity of one router.
type wantRouter struct {
	name     string
	id       int
	loopback string
	locator  string
	end      string // SIDs; DX4 and DT6 are checked when set
	dx4, dt6 string
}

// wantLink is the planned addressing of one link, endpoints as written.
// Empty strings mean "not set" (invalid netip values).
type wantLink struct {
	a, b         string // node:iface
	sub6, a6, b6 string
	sub4, a4, b4 string
	metric       int
}

func loadNetwork(t *testing.T, path string) *Network {
	t.Helper()
	nw, err := LoadNetwork(path)
	if err != nil {
		t.Fatalf("LoadNetwork(%s): %v", path, err)
	}
	return nw
}

func parseNetwork(t *testing.T, src string) *Network {
	t.Helper()
	nw, err := ParseNetwork("lab.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseNetwork: %v", err)
	}
	return nw
}

func str(v interface{ IsValid() bool }) string {
	if !v.IsValid() {
		return ""
	}
	return v.(interface{ String() string }).String()
}

func checkRouters(t *testing.T, nw *Network, want []wantRouter) {
	t.Helper()
	rs := nw.NodesWith(Underlay)
	if len(rs) != len(want) {
		t.Fatalf("got %d routers, want %d", len(rs), len(want))
	}
	for i, w := range want {
		r := rs[i]
		if r.Name != w.name || r.ID != w.id || r.Kind != KindRouter {
			t.Errorf("router %d = %s id %d, want %s id %d", i, r.Name, r.ID, w.name, w.id)
		}
		if nw.Node(w.name) != r {
			t.Errorf("Node(%q) is not router %d", w.name, i)
		}
		if got := str(r.Loopback); got != w.loopback {
			t.Errorf("%s loopback = %s, want %s", r.Name, got, w.loopback)
		}
		if got := str(r.Locator); got != w.locator {
			t.Errorf("%s locator = %s, want %s", r.Name, got, w.locator)
		}
		if got := str(r.SIDs.End); got != w.end {
			t.Errorf("%s End SID = %s, want %s", r.Name, got, w.end)
		}
		if got := str(r.SIDs.DX4); w.dx4 != "" && got != w.dx4 {
			t.Errorf("%s DX4 SID = %s, want %s", r.Name, got, w.dx4)
		}
		if got := str(r.SIDs.DT6); w.dt6 != "" && got != w.dt6 {
			t.Errorf("%s DT6 SID = %s, want %s", r.Name, got, w.dt6)
		}
		for _, sid := range []netip.Addr{r.SIDs.End, r.SIDs.DX4, r.SIDs.DT6} {
			if !r.Locator.Contains(sid) {
				t.Errorf("%s SID %s is outside its locator %s", r.Name, sid, r.Locator)
			}
		}
	}
}

func checkLinks(t *testing.T, nw *Network, want []wantLink) {
	t.Helper()
	if len(nw.Links) != len(want) {
		t.Fatalf("got %d links, want %d", len(nw.Links), len(want))
	}
	for i, w := range want {
		l := nw.Links[i]
		if l.Index != i {
			t.Errorf("link %d has Index %d", i, l.Index)
		}
		a, b := l.A.Node.Name+":"+l.A.Name, l.B.Node.Name+":"+l.B.Name
		if a != w.a || b != w.b {
			t.Errorf("link %d = %s--%s, want %s--%s", i, a, b, w.a, w.b)
			continue
		}
		if l.String() != a+"--"+b {
			t.Errorf("link %d String() = %q", i, l.String())
		}
		for _, c := range []struct {
			what      string
			got, want string
		}{
			{"subnet6", str(l.Subnet6), w.sub6},
			{a + " ipv6", str(l.A.Addr6), w.a6},
			{b + " ipv6", str(l.B.Addr6), w.b6},
			{"subnet4", str(l.Subnet4), w.sub4},
			{a + " ipv4", str(l.A.Addr4), w.a4},
			{b + " ipv4", str(l.B.Addr4), w.b4},
		} {
			if c.got != c.want {
				t.Errorf("link %d (%s) %s = %q, want %q", i, l, c.what, c.got, c.want)
			}
		}
		metric := w.metric
		if metric == 0 {
			metric = DefaultMetric
		}
		if l.Metric != metric {
			t.Errorf("link %d metric = %d, want %d", i, l.Metric, metric)
		}
		// The two ends point at each other and at the link, and each node
		// lists its end.
		if l.A.Peer != l.B || l.B.Peer != l.A || l.A.Link != l || l.B.Link != l {
			t.Errorf("link %d: broken Peer/Link pointers", i)
		}
		if l.A.Node.Iface(l.A.Name) != l.A || l.B.Node.Iface(l.B.Name) != l.B {
			t.Errorf("link %d: interfaces not listed on their nodes", i)
		}
	}
}

func TestPlanLine3(t *testing.T) {
	nw := loadNetwork(t, "../../examples/line3.yaml")
	if nw.Name != "line3" || nw.Routing != RoutingStatic {
		t.Errorf("name, routing = %q, %q", nw.Name, nw.Routing)
	}
	want := Pools{
		Loopbacks:     netip.MustParsePrefix("fd00:0:ff::/48"),
		Locators:      netip.MustParsePrefix("fc00::/32"),
		LocatorLength: 48,
		Links:         netip.MustParsePrefix("fd00:0:1::/48"),
		Hosts4:        netip.MustParsePrefix("10.0.0.0/16"),
		Hosts6:        netip.MustParsePrefix("fd00:0:2::/48"),
	}
	if nw.Pools != want {
		t.Errorf("pools = %+v, want defaults %+v", nw.Pools, want)
	}
	var names []string
	for _, n := range nw.Nodes {
		names = append(names, n.Name+"/"+n.Kind)
	}
	if got := strings.Join(names, " "); got != "r1/router r2/router r3/router h1/host h2/host" {
		t.Errorf("nodes in order = %s", got)
	}
	checkRouters(t, nw, []wantRouter{
		{"r1", 1, "fd00:0:ff::1", "fc00:0:1::/48", "fc00:0:1::1", "fc00:0:1::d4", "fc00:0:1::d6"},
		{"r2", 2, "fd00:0:ff::2", "fc00:0:2::/48", "fc00:0:2::1", "fc00:0:2::d4", "fc00:0:2::d6"},
		{"r3", 3, "fd00:0:ff::3", "fc00:0:3::/48", "fc00:0:3::1", "fc00:0:3::d4", "fc00:0:3::d6"},
	})
	checkLinks(t, nw, []wantLink{
		{a: "h1:eth0", b: "r1:eth0",
			sub6: "fd00:0:2:1::/64", a6: "fd00:0:2:1::2/64", b6: "fd00:0:2:1::1/64",
			sub4: "10.0.1.0/24", a4: "10.0.1.2/24", b4: "10.0.1.1/24"},
		{a: "r1:eth1", b: "r2:eth1", sub6: "fd00:0:1:1::/64", a6: "fd00:0:1:1::1/64", b6: "fd00:0:1:1::2/64"},
		{a: "r2:eth2", b: "r3:eth1", sub6: "fd00:0:1:2::/64", a6: "fd00:0:1:2::1/64", b6: "fd00:0:1:2::2/64"},
		{a: "r3:eth0", b: "h2:eth0",
			sub6: "fd00:0:2:2::/64", a6: "fd00:0:2:2::1/64", b6: "fd00:0:2:2::2/64",
			sub4: "10.0.2.0/24", a4: "10.0.2.1/24", b4: "10.0.2.2/24"},
	})
	for _, h := range []struct{ host, router, gw string }{{"h1", "r1", "eth0"}, {"h2", "r3", "eth0"}} {
		n := nw.Node(h.host)
		if n.ID != 0 || n.Loopback.IsValid() || n.Locator.IsValid() {
			t.Errorf("host %s has router fields: %+v", h.host, n)
		}
		if gw := n.Gateway(); gw == nil || gw.Node.Name != h.router || gw.Name != h.gw {
			t.Errorf("%s gateway = %v", h.host, gw)
		}
		if r := n.AttachedRouter(); r == nil || r.Name != h.router {
			t.Errorf("%s attached router = %v", h.host, r)
		}
	}
	if nw.Node("r1").Gateway() != nil || nw.Node("r1").AttachedRouter() != nil {
		t.Errorf("a router has a gateway")
	}
	if nw.Node("nope") != nil || nw.Node("r2").Iface("eth9") != nil {
		t.Errorf("lookup of a missing node or interface is not nil")
	}
	var ifs []string
	for _, i := range nw.Node("r2").Interfaces {
		ifs = append(ifs, i.Name)
	}
	if got := strings.Join(ifs, ","); got != "eth1,eth2" {
		t.Errorf("r2 interfaces = %s", got)
	}
}

func TestPlanTriangle(t *testing.T) {
	nw := loadNetwork(t, "../../examples/triangle.yaml")
	if nw.Name != "tri" || nw.Routing != RoutingStatic {
		t.Errorf("name, routing = %q, %q", nw.Name, nw.Routing)
	}
	checkRouters(t, nw, []wantRouter{
		{"r1", 1, "fd00:0:ff::1", "fc00:0:1::/48", "fc00:0:1::1", "fc00:0:1::d4", "fc00:0:1::d6"},
		{"r2", 2, "fd00:0:ff::2", "fc00:0:2::/48", "fc00:0:2::1", "fc00:0:2::d4", "fc00:0:2::d6"},
		{"r3", 3, "fd00:0:ff::3", "fc00:0:3::/48", "fc00:0:3::1", "fc00:0:3::d4", "fc00:0:3::d6"},
	})
	checkLinks(t, nw, []wantLink{
		{a: "h1:eth0", b: "r1:eth0",
			sub6: "fd00:0:2:1::/64", a6: "fd00:0:2:1::2/64", b6: "fd00:0:2:1::1/64",
			sub4: "10.0.1.0/24", a4: "10.0.1.2/24", b4: "10.0.1.1/24"},
		{a: "r1:eth1", b: "r2:eth1", sub6: "fd00:0:1:1::/64", a6: "fd00:0:1:1::1/64", b6: "fd00:0:1:1::2/64"},
		{a: "r2:eth2", b: "r3:eth2", sub6: "fd00:0:1:2::/64", a6: "fd00:0:1:2::1/64", b6: "fd00:0:1:2::2/64"},
		{a: "r1:eth3", b: "r3:eth3", sub6: "fd00:0:1:3::/64", a6: "fd00:0:1:3::1/64", b6: "fd00:0:1:3::2/64"},
		{a: "r3:eth0", b: "h2:eth0",
			sub6: "fd00:0:2:2::/64", a6: "fd00:0:2:2::1/64", b6: "fd00:0:2:2::2/64",
			sub4: "10.0.2.0/24", a4: "10.0.2.1/24", b4: "10.0.2.2/24"},
	})
}

func TestPlanDC8(t *testing.T) {
	nw := loadNetwork(t, "../../examples/dc8.yaml")
	if nw.Routing != RoutingISIS {
		t.Errorf("routing = %q", nw.Routing)
	}
	if len(nw.NodesWith(Underlay)) != 8 || len(nw.Nodes) != 12 || len(nw.Links) != 14 {
		t.Fatalf("got %d routers, %d nodes, %d links", len(nw.NodesWith(Underlay)), len(nw.Nodes), len(nw.Links))
	}
	// Router links number from 1 in hexadecimal; host links have their own
	// count in both families.
	for i, want := range map[int]string{0: "fd00:0:1:1::/64", 8: "fd00:0:1:9::/64", 9: "fd00:0:1:a::/64", 10: "fd00:0:2:1::/64", 13: "fd00:0:2:4::/64"} {
		if got := nw.Links[i].Subnet6.String(); got != want {
			t.Errorf("link %d subnet6 = %s, want %s", i, got, want)
		}
	}
	if got := nw.Links[13].Subnet4.String(); got != "10.0.4.0/24" {
		t.Errorf("last host link subnet4 = %s", got)
	}
	if nw.Links[9].Metric != 20 || nw.Links[8].Metric != DefaultMetric {
		t.Errorf("metrics = %d, %d", nw.Links[9].Metric, nw.Links[8].Metric)
	}
	if r := nw.Node("hdc3").AttachedRouter(); r == nil || r.Name != "r8" || r.ID != 8 {
		t.Errorf("hdc3 attached router = %+v", r)
	}
}

func TestPlanOverrides(t *testing.T) {
	nw := parseNetwork(t, `version: 1
name: ovr
nodes:
  r1: {kind: router}
  r2: {kind: router, id: 1, loopback: "fd00:0:ff::99", locator: "fc00:0:99::/48"}
  r3: {kind: router}
  r4: {kind: router, id: 3}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
    subnet6: fd00:0:1:1::/64
  - endpoints: [r1:eth2, r2:eth2]
    metric: 25
    loss: 0.5%
    rate: 100mbit
  - endpoints: [r2:eth3, r3:eth1]
    subnet6: fd00:0:1:3::/126
  - endpoints: [r3:eth2, r4:eth1]
  - endpoints: [h1:eth0, r3:eth0]
    subnet4: 10.0.1.0/24
  - endpoints: [r4:eth0, h2:eth0]
    subnet6: fd00:0:2:1::/64
`)
	// Auto ids skip the ids set explicitly (1 and 3), in file order.
	checkRouters(t, nw, []wantRouter{
		{"r1", 2, "fd00:0:ff::2", "fc00:0:2::/48", "fc00:0:2::1", "", ""},
		{"r2", 1, "fd00:0:ff::99", "fc00:0:99::/48", "fc00:0:99::1", "fc00:0:99::d4", "fc00:0:99::d6"},
		{"r3", 4, "fd00:0:ff::4", "fc00:0:4::/48", "fc00:0:4::1", "", ""},
		{"r4", 3, "fd00:0:ff::3", "fc00:0:3::/48", "fc00:0:3::1", "", ""},
	})
	// Auto subnets skip every subnet that overlaps one set explicitly,
	// wherever in the file it is set.
	checkLinks(t, nw, []wantLink{
		{a: "r1:eth1", b: "r2:eth1", sub6: "fd00:0:1:1::/64", a6: "fd00:0:1:1::1/64", b6: "fd00:0:1:1::2/64"},
		{a: "r1:eth2", b: "r2:eth2", sub6: "fd00:0:1:2::/64", a6: "fd00:0:1:2::1/64", b6: "fd00:0:1:2::2/64", metric: 25},
		{a: "r2:eth3", b: "r3:eth1", sub6: "fd00:0:1:3::/126", a6: "fd00:0:1:3::1/126", b6: "fd00:0:1:3::2/126"},
		{a: "r3:eth2", b: "r4:eth1", sub6: "fd00:0:1:4::/64", a6: "fd00:0:1:4::1/64", b6: "fd00:0:1:4::2/64"},
		{a: "h1:eth0", b: "r3:eth0",
			sub6: "fd00:0:2:2::/64", a6: "fd00:0:2:2::2/64", b6: "fd00:0:2:2::1/64",
			sub4: "10.0.1.0/24", a4: "10.0.1.2/24", b4: "10.0.1.1/24"},
		{a: "r4:eth0", b: "h2:eth0",
			sub6: "fd00:0:2:1::/64", a6: "fd00:0:2:1::1/64", b6: "fd00:0:2:1::2/64",
			sub4: "10.0.2.0/24", a4: "10.0.2.1/24", b4: "10.0.2.2/24"},
	})
	if l := nw.Links[1]; l.Loss != 0.5 || l.Rate != 100_000_000 {
		t.Errorf("impairments = %v%% %d bit/s", l.Loss, l.Rate)
	}
	if l := nw.Links[0]; l.Loss != 0 || l.Rate != 0 {
		t.Errorf("link without impairments = %v%% %d bit/s", l.Loss, l.Rate)
	}
}

func TestPlanPools(t *testing.T) {
	nw := parseNetwork(t, `version: 1
name: pools
routing: isis
plan:
  loopbacks: fd00:aa::/112
  locators: fc00:bb::/64
  locator_length: 80
  links: fd00:cc::/56
  hosts4: 192.168.0.0/16
  hosts6: fd00:dd::/48
nodes:
  r1: {kind: router}
  r2: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth0, h1:eth0]
`)
	if nw.Routing != RoutingISIS || nw.Pools.LocatorLength != 80 || nw.Pools.Links.String() != "fd00:cc::/56" {
		t.Errorf("routing, pools = %s, %+v", nw.Routing, nw.Pools)
	}
	checkRouters(t, nw, []wantRouter{
		{"r1", 1, "fd00:aa::1", "fc00:bb:0:0:1::/80", "fc00:bb::1:0:0:1", "fc00:bb::1:0:0:d4", "fc00:bb::1:0:0:d6"},
		{"r2", 2, "fd00:aa::2", "fc00:bb:0:0:2::/80", "fc00:bb::2:0:0:1", "", ""},
	})
	checkLinks(t, nw, []wantLink{
		{a: "r1:eth1", b: "r2:eth1", sub6: "fd00:cc:0:1::/64", a6: "fd00:cc:0:1::1/64", b6: "fd00:cc:0:1::2/64"},
		{a: "r2:eth0", b: "h1:eth0",
			sub6: "fd00:dd:0:1::/64", a6: "fd00:dd:0:1::1/64", b6: "fd00:dd:0:1::2/64",
			sub4: "192.168.1.0/24", a4: "192.168.1.1/24", b4: "192.168.1.2/24"},
	})
}

func TestPlanErrors(t *testing.T) {
	const routers2 = `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
`
	tests := []struct {
		name string
		src  string
		want []wantErr
	}{
		{
			name: "node locator overlaps another router's auto locator",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router, locator: "fc00:0:1::/48"}
`,
			want: []wantErr{{4, 31, "nodes.r2.locator", "locator of r2 fc00:0:1::/48 overlaps locator of r1 fc00:0:1::/48"}},
		},
		{
			name: "wider node locator covers an auto locator",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router, locator: "fc00::/40"}
`,
			want: []wantErr{{4, 31, "nodes.r2.locator", "locator of r2 fc00::/40 overlaps locator of r1 fc00:0:1::/48"}},
		},
		{
			name: "node loopback is another router's auto loopback",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router, loopback: "fd00:0:ff::1"}
`,
			want: []wantErr{{4, 32, "nodes.r2.loopback", "loopback of r2 fd00:0:ff::1/128 overlaps loopback of r1 fd00:0:ff::1/128"}},
		},
		{
			name: "link subnet covers loopbacks",
			src: routers2 + `links:
  - endpoints: [r1:eth1, r2:eth1]
    subnet6: fd00:0:ff::/64
`,
			want: []wantErr{
				{7, 14, "links[0].subnet6", "subnet of link r1:eth1--r2:eth1 fd00:0:ff::/64 overlaps loopback of r1 fd00:0:ff::1/128"},
				{7, 14, "links[0].subnet6", "subnet of link r1:eth1--r2:eth1 fd00:0:ff::/64 overlaps loopback of r2 fd00:0:ff::2/128"},
			},
		},
		{
			name: "two links with the same subnet",
			src: routers2 + `links:
  - endpoints: [r1:eth1, r2:eth1]
    subnet6: fd00:0:1:9::/64
  - endpoints: [r1:eth2, r2:eth2]
    subnet6: fd00:0:1:9::/64
`,
			want: []wantErr{{9, 14, "links[1].subnet6", "subnet of link r1:eth2--r2:eth2 fd00:0:1:9::/64 overlaps subnet of link r1:eth1--r2:eth1 fd00:0:1:9::/64"}},
		},
		{
			name: "plan pool overlaps a default pool",
			src: `name: lab
plan:
  hosts6: fd00:0:1::/48
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 11, "plan.hosts6", "pool plan.hosts6 fd00:0:1::/48 overlaps pool plan.links fd00:0:1::/48"}},
		},
		{
			name: "plan pool covers two default pools",
			src: `name: lab
plan:
  links: fd00::/32
nodes:
  r1: {kind: router}
`,
			want: []wantErr{
				{3, 10, "plan.links", "pool plan.links fd00::/32 overlaps pool plan.hosts6 fd00:0:2::/48"},
				{3, 10, "plan.links", "pool plan.links fd00::/32 overlaps pool plan.loopbacks fd00:0:ff::/48"},
			},
		},
		{
			name: "overlapping pools reported at the later one",
			src: `name: lab
plan:
  loopbacks: fc00:0:ff::/48
  locators: fc00::/32
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{4, 13, "plan.locators", "pool plan.locators fc00::/32 overlaps pool plan.loopbacks fc00:0:ff::/48"}},
		},
		{
			name: "links pool exhausted",
			src: `name: lab
plan:
  links: fd00:0:1::/63
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r1:eth2, r2:eth2]
`,
			want: []wantErr{{9, 5, "links[1]", "plan.links fd00:0:1::/63 is exhausted: make it larger"}},
		},
		{
			name: "hosts4 pool exhausted",
			src: `name: lab
plan:
  hosts4: 10.0.0.0/23
nodes:
  r1: {kind: router}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [r1:eth1, h1:eth0]
  - {endpoints: [r1:eth2, h2:eth0]}
`,
			want: []wantErr{{10, 5, "links[1]", "plan.hosts4 10.0.0.0/23 is exhausted: make it larger"}},
		},
		{
			name: "hosts6 pool exhausted",
			src: `name: lab
plan:
  hosts6: fd00:0:2::/63
nodes:
  r1: {kind: router}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [r1:eth1, h1:eth0]
  - endpoints: [r1:eth2, h2:eth0]
`,
			want: []wantErr{{10, 5, "links[1]", "plan.hosts6 fd00:0:2::/63 is exhausted: make it larger"}},
		},
		{
			name: "locators too long for the default locator_length",
			src: `name: lab
plan:
  locators: fc00::/48
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 13, "plan.locators", "fc00::/48 leaves no room for router ids before locator_length /48"}},
		},
		{
			name: "locator_length too short for the default locators",
			src: `name: lab
plan:
  locator_length: 32
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 19, "plan.locator_length", "fc00::/32 leaves no room for router ids before locator_length /32"}},
		},
		{
			name: "router id does not fit in the locators",
			src: `name: lab
plan:
  locators: fc00::/96
  locator_length: 100
nodes:
  r1: {kind: router, id: 15}
  r2: {kind: router, id: 16}
`,
			want: []wantErr{{7, 3, "nodes.r2", "router id 16 does not fit in plan.locators fc00::/96 with locator_length /100"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("lab.yaml", []byte(tt.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			nw, err := Plan(s)
			if nw != nil {
				t.Errorf("Plan returned a network along with errors")
			}
			checkErrors(t, "lab.yaml", err, tt.want)
		})
	}
}

func TestNetworkJSONAndDOT(t *testing.T) {
	nw := parseNetwork(t, `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
    loss: 1.5%
    rate: 10mbit
  - endpoints: [h1:eth0, r1:eth0]
`)
	var buf bytes.Buffer
	if err := nw.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got NetworkJSON
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("JSON does not read back: %v\n%s", err, buf.String())
	}
	if got.Name != "lab" || len(got.Nodes) != 3 || len(got.Links) != 2 {
		t.Fatalf("JSON = %+v", got)
	}
	r1, h1 := got.Nodes[0], got.Nodes[2]
	if r1.ID != 1 || r1.Loopback == nil || r1.Loopback.String() != "fd00:0:ff::1" || r1.SIDs == nil || r1.SIDs.DT6.String() != "fc00:0:1::d6" {
		t.Errorf("router JSON = %+v", r1)
	}
	if h1.ID != 0 || h1.Loopback != nil || h1.Locator != nil || h1.SIDs != nil {
		t.Errorf("host JSON has router fields: %+v", h1)
	}
	if len(h1.Interfaces) != 1 || h1.Interfaces[0].Peer != "r1:eth0" || h1.Interfaces[0].Addr4.String() != "10.0.1.2/24" {
		t.Errorf("host interfaces = %+v", h1.Interfaces)
	}
	if l := got.Links[0]; l.Subnet4 != nil || l.Loss != 1.5 || l.Rate != 10_000_000 || l.Endpoints != [2]string{"r1:eth1", "r2:eth1"} {
		t.Errorf("router link JSON = %+v", l)
	}
	if l := got.Links[1]; l.Subnet4 == nil || l.Subnet4.String() != "10.0.1.0/24" {
		t.Errorf("host link JSON = %+v", l)
	}

	buf.Reset()
	if err := nw.WriteDOT(&buf); err != nil {
		t.Fatal(err)
	}
	dot := buf.String()
	for _, want := range []string{
		`graph "lab" {`,
		`"r1" [shape=box label="r1\nlo fd00:0:ff::1\nloc fc00:0:1::/48"];`,
		`"h1" [shape=ellipse label="h1\n10.0.1.2/24\nfd00:0:2:1::2/64"];`,
		`"r1" -- "r2" [taillabel="eth1" headlabel="eth1" label="metric 10\nloss 1.5%\nrate 10mbit"];`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s\n%s", want, dot)
		}
	}
}

// TestPlanSkipsWideReservedSubnets checks that auto allocation jumps over an
// explicit subnet that spans many pool subnets instead of stepping through
// them one by one (2^44 steps here before the fix: Plan hung).
func TestPlanSkipsWideReservedSubnets(t *testing.T) {
	nw := parseNetwork(t, `name: lab
plan:
  links: fe00::/16
nodes:
  r1: {kind: router}
  r2: {kind: router}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [h1:eth0, r1:eth0]
    subnet6: fe00::/20
    subnet4: 10.0.0.0/17
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [h2:eth0, r2:eth0]
  - endpoints: [r1:eth2, r2:eth2]
`)
	checkLinks(t, nw, []wantLink{
		{a: "h1:eth0", b: "r1:eth0",
			sub6: "fe00::/20", a6: "fe00::2/20", b6: "fe00::1/20",
			sub4: "10.0.0.0/17", a4: "10.0.0.2/17", b4: "10.0.0.1/17"},
		{a: "r1:eth1", b: "r2:eth1", sub6: "fe00:1000::/64", a6: "fe00:1000::1/64", b6: "fe00:1000::2/64"},
		{a: "h2:eth0", b: "r2:eth0",
			sub6: "fd00:0:2:1::/64", a6: "fd00:0:2:1::2/64", b6: "fd00:0:2:1::1/64",
			sub4: "10.0.128.0/24", a4: "10.0.128.2/24", b4: "10.0.128.1/24"},
		{a: "r1:eth2", b: "r2:eth2", sub6: "fe00:1000:0:1::/64", a6: "fe00:1000:0:1::1/64", b6: "fe00:1000:0:1::2/64"},
	})

	// A reserved prefix reaching the end of a pool of 2^64 subnets
	// exhausts it, without wrapping around to subnet 0.
	_, err := ParseNetwork("lab.yaml", []byte(`name: lab
plan:
  links: ::/0
nodes:
  r1: {kind: router}
  r2: {kind: router}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [h1:eth0, r1:eth0]
    subnet6: "::/1"
  - endpoints: [h2:eth0, r2:eth0]
    subnet6: "8000::/1"
  - endpoints: [r1:eth1, r2:eth1]
`))
	el := errorList(t, err)
	if last := el[len(el)-1]; last.Pos != (Pos{14, 5}) || last.Field != "links[2]" || last.Msg != "plan.links ::/0 is exhausted: make it larger" {
		t.Errorf("last error = %v\nall:\n%v", last, err)
	}
}

// A pool exactly one subnet long hands out that subnet (numbering from 1
// would leave it unusable).
func TestPlanSingleSubnetPools(t *testing.T) {
	src := `name: one
plan: {links: "fd00:0:9::/64", hosts4: "10.9.9.0/24", hosts6: "fd00:0:8::/64"}
nodes:
  r1: {kind: router}
  r2: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [h1:eth0, r1:eth0]
`
	nw, err := ParseNetwork("one.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := nw.Links[0].Subnet6.String(); got != "fd00:0:9::/64" {
		t.Errorf("router link subnet = %s", got)
	}
	if got := nw.Links[1].Subnet4.String() + " " + nw.Links[1].Subnet6.String(); got != "10.9.9.0/24 fd00:0:8::/64" {
		t.Errorf("host link subnets = %s", got)
	}
}
