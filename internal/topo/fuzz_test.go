package topo

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// maxFuzzInput bounds the input so each run stays fast; topology files are
// far smaller.
const maxFuzzInput = 64 << 10

// fuzzSeeds are inputs that reach the interesting corners quickly: valid
// files with every override, and files with one mistake each.
var fuzzSeeds = []string{
	"",
	"name: lab\nnodes:\n  r1: {kind: router}\n",
	`version: 1
name: ovr
plan: {loopbacks: "fd00:0:ff::/48", locators: "fc00::/32", locator_length: 48, links: "fd00:0:1::/48", hosts4: 10.0.0.0/16, hosts6: "fd00:0:2::/48"}
nodes:
  r1: {kind: router, id: 2, loopback: "fd00:0:ff::9", locator: "fc00:0:9::/48"}
  r2: &r {kind: router}
  r3: *r
  h1: {kind: host}
links:
  - {endpoints: [r1:eth1, r2:eth1], subnet6: "fd00:0:1:1::/126", metric: 5}
  - {endpoints: [r2:eth2, r3:eth1], loss: 0.5%, rate: 10mbit}
  - {endpoints: [h1:eth0, r3:eth0], subnet4: 10.0.3.0/30, subnet6: "fd00:0:2:3::/64"}
`,
	"name: lab\nplan:\n  locators: fc00::/96\n  locator_length: 100\nnodes:\n  r1: {kind: router, id: 16}\n",
	"name: lab\nplan:\n  links: fd00:0:1::/63\nnodes:\n  r1: {kind: router}\n  r2: {kind: router}\nlinks:\n  - endpoints: [r1:a, r2:a]\n  - endpoints: [r1:b, r2:b]\n",
	"name: lab\nnodes:\n  r1: {kind: router}\n  r2: {kind: router, locator: \"fc00:0:1::/48\"}\n",
	"name: lab\nplan:\n  hosts6: fd00:0:1::/48\nnodes:\n  r1: {kind: router}\n",
	"name: lab\nnodes:\n  r1: {kind: router}\n  r1: {kind: host}\nlinks:\n  - endpoints: [r1:eth1, r9:eth1]\n  - endpoints: [r1:eth1, r1:eth2]\n",
	"version: 2\nname: Lab\nrouting: ospf\nnodes:\n  h1: {kind: host}\n  h2: {kind: host}\nlinks:\n  - {endpoints: [h1:e, h2:e], loss: 2, rate: 100}\n",
	"name: lab\nnodes:\n  r1: kind: router\n",
	"- a\n- b\n",
	"name: lab\nnodes: &n {r1: {kind: router}}\nlinks: *n\n",
	"name: lab\nplan: {links: \"fe00::/16\"}\nnodes: {r1: {kind: router}, r2: {kind: router}, h1: {kind: host}}\nlinks:\n  - {endpoints: [h1:e0, r1:e0], subnet6: \"fe00::/20\", subnet4: 10.0.0.0/17}\n  - {endpoints: [r1:e1, r2:e1]}\n",
}

func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, p := range examples {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a spec and an error")
			}
			checkFuzzErrors(t, "Parse", err, false)
			return
		}
		nw, err := Plan(s)
		if err != nil {
			if nw != nil {
				t.Fatalf("Plan returned a network and an error")
			}
			// Plan works on a valid spec: its errors always point into
			// the file.
			checkFuzzErrors(t, "Plan", err, true)
			return
		}
		checkFuzzNetwork(t, nw)
		if err := nw.WriteJSON(io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := nw.WriteDOT(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}

func checkFuzzErrors(t *testing.T, stage string, err error, anchored bool) {
	t.Helper()
	var el ErrorList
	if !errors.As(err, &el) || len(el) == 0 {
		t.Fatalf("%s error is not a non-empty ErrorList: %T %v", stage, err, err)
	}
	for i, e := range el {
		if e == nil {
			t.Fatalf("%s error %d is nil", stage, i)
		}
		if e.Pos.Line < 0 || e.Pos.Column < 0 || e.Msg == "" || e.File != "fuzz.yaml" {
			t.Errorf("%s error %d is malformed: %+v", stage, i, *e)
		}
		if anchored && e.Pos.Line == 0 {
			t.Errorf("%s error %d has no position: %v", stage, i, e)
		}
		if i > 0 {
			p, q := el[i-1].Pos, e.Pos
			if q.Line < p.Line || q.Line == p.Line && q.Column < p.Column {
				t.Errorf("%s errors not sorted: %v before %v", stage, el[i-1], e)
			}
		}
	}
}

// checkFuzzNetwork checks the invariants of every plan: router-link ends have
// distinct IPv6 addresses inside the link subnet, host-link ends have both
// families inside theirs, and no two planned prefixes overlap.
func checkFuzzNetwork(t *testing.T, nw *Network) {
	t.Helper()
	type planned struct {
		what string
		p    netip.Prefix
	}
	var all []planned
	for _, n := range nw.Nodes {
		if n.Name == "" || nw.Node(n.Name) != n {
			t.Fatalf("node %q is not indexed", n.Name)
		}
		if !n.Has(Underlay) {
			if len(n.Interfaces) == 0 || n.AttachedRouter() == nil {
				t.Errorf("host %s has no router", n.Name)
			}
			continue
		}
		if n.ID < 1 || !n.Loopback.Is6() || n.Loopback.Is4In6() || n.Loopback.Zone() != "" || !n.Locator.IsValid() {
			t.Errorf("router %s: id %d loopback %v locator %v", n.Name, n.ID, n.Loopback, n.Locator)
		}
		for _, sid := range []netip.Addr{n.SIDs.End, n.SIDs.DX4, n.SIDs.DT6} {
			if !n.Locator.Contains(sid) {
				t.Errorf("router %s: SID %v outside locator %v", n.Name, sid, n.Locator)
			}
		}
		all = append(all, planned{"loopback of " + n.Name, netip.PrefixFrom(n.Loopback, 128)}, planned{"locator of " + n.Name, n.Locator})
	}
	inSubnet := func(l *Link, i *Interface, sub, addr netip.Prefix, is6 bool) {
		t.Helper()
		if !sub.IsValid() || !addr.IsValid() || addr.Addr().Is6() != is6 || addr.Addr().Is4In6() ||
			addr.Bits() != sub.Bits() || !sub.Contains(addr.Addr()) || addr.Addr() == sub.Addr() {
			t.Errorf("link %s: %s:%s address %v not a host address of subnet %v", l, i.Node.Name, i.Name, addr, sub)
		}
	}
	for _, l := range nw.Links {
		for _, i := range []*Interface{l.A, l.B} {
			if i.Link != l || i.Peer.Peer != i || i.Node.Iface(i.Name) != i {
				t.Fatalf("link %s: broken pointers", l)
			}
			inSubnet(l, i, l.Subnet6, i.Addr6, true)
		}
		if l.A.Addr6 == l.B.Addr6 {
			t.Errorf("link %s: both ends have %v", l, l.A.Addr6)
		}
		all = append(all, planned{"subnet6 of " + l.String(), l.Subnet6})
		if l.IsCore() {
			if l.Subnet4.IsValid() || l.A.Addr4.IsValid() || l.B.Addr4.IsValid() {
				t.Errorf("router link %s has IPv4", l)
			}
			continue
		}
		for _, i := range []*Interface{l.A, l.B} {
			inSubnet(l, i, l.Subnet4, i.Addr4, false)
		}
		if l.A.Addr4 == l.B.Addr4 {
			t.Errorf("link %s: both ends have %v", l, l.A.Addr4)
		}
		all = append(all, planned{"subnet4 of " + l.String(), l.Subnet4})
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[i].p.Overlaps(all[j].p) {
				t.Errorf("%s %v overlaps %s %v", all[i].what, all[i].p, all[j].what, all[j].p)
			}
		}
	}
}
