package lab

import (
	"slices"
	"strings"
	"testing"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/topo"
)

const diffBase = `name: d
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth2, r3:eth1]
    loss: 1%
  - endpoints: [r3:eth2, r1:eth2]
  - endpoints: [h1:eth0, r1:eth0]
`

// planFrom plans src onto a lab running diffBase.
func planFrom(t *testing.T, src string) (*DeployPlan, error) {
	t.Helper()
	st := &State{Name: "d", Source: "old.yaml", Topology: diffBase}
	spec, err := topo.Parse("new.yaml", []byte(src), topo.WithKinds(nodeKinds()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return planChange(st, spec)
}

func TestDiffNetworks(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(diffBase, old) {
			panic(old)
		}
		return strings.Replace(diffBase, old, new, 1)
	}
	tests := []struct {
		name string
		src  string
		want []string // Change.String() lines
	}{
		{"same", diffBase, nil},
		{"comments and order", "# moved\n" + strings.Replace(diffBase, "  r1: {kind: router}\n  r2: {kind: router}\n", "  r2: {kind: router}\n  r1: {kind: router}\n", 1), nil},
		{"ends written the other way round", edit("[r1:eth1, r2:eth1]", "[r2:eth1, r1:eth1]"), nil},
		{"node and link added", edit("  h1: {kind: host}\n", "  h1: {kind: host}\n  r4: {kind: router}\n") + "  - endpoints: [r4:eth1, r2:eth3]\n",
			[]string{"+ add node r4: router", "+ add link r2:eth3--r4:eth1"}},
		{"link removed", edit("  - endpoints: [r3:eth2, r1:eth2]\n", ""),
			[]string{"- remove link r1:eth2--r3:eth2"}},
		{"node removed with its link", edit("  h1: {kind: host}\n", "") + "",
			nil}, // patched below: h1's link must go too
		{"loss and rate", edit("    loss: 1%\n", "    loss: 5%\n    rate: 10mbit\n"),
			[]string{"~ set link r2:eth2--r3:eth1: loss 1% -> 5%, rate unlimited -> 10mbit"}},
		{"metric", edit("  - endpoints: [r1:eth1, r2:eth1]\n", "  - endpoints: [r1:eth1, r2:eth1]\n    metric: 30\n"),
			[]string{"~ set link r1:eth1--r2:eth1: metric 10 -> 30"}},
		{"router turned host", edit("  r3: {kind: router}\n", "  r3: {kind: host}\n"),
			[]string{"± replace node r3: kind router -> host", "± replace link r2:eth2--r3:eth1: an end's node is replaced", "± replace link r1:eth2--r3:eth2: an end's node is replaced"}},
		{"interface renamed", edit("[r3:eth2, r1:eth2]", "[r3:eth9, r1:eth2]"),
			[]string{"+ add link r1:eth2--r3:eth9", "- remove link r1:eth2--r3:eth2"}},
	}
	tests[5].src = strings.Replace(tests[5].src, "  - endpoints: [h1:eth0, r1:eth0]\n", "", 1)
	tests[5].want = []string{"- remove node h1: host", "- remove link h1:eth0--r1:eth0"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planFrom(t, tt.src)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			var got []string
			for _, c := range p.Changes {
				got = append(got, c.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if p.UpToDate != (len(tt.want) == 0) {
				t.Errorf("UpToDate = %v", p.UpToDate)
			}
		})
	}
}

// TestDiffRefusesWhatARunningLabCannotTake: routing, the address plan and
// the lab's name are not changed under a running lab.
func TestDiffRefusesWhatARunningLabCannotTake(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"routing", "routing: isis\n" + diffBase, "routing changes from static to isis"},
		{"pools", "plan:\n  links: fd00:9::/48\n" + diffBase, "address plan"},
		{"name", strings.Replace(diffBase, "name: d", "name: e", 1), "another lab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := planFrom(t, tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestDiffKeepsAddressesOfWhatStays: a router inserted first in the file
// takes a free id; the others keep theirs, and the plan stored (the pins)
// plans the new file the same way again.
func TestDiffKeepsAddressesOfWhatStays(t *testing.T) {
	src := strings.Replace(diffBase, "nodes:\n", "nodes:\n  r0: {kind: router}\n", 1) + "  - endpoints: [r0:eth1, r1:eth3]\n"
	p, err := planFrom(t, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.old.Nodes {
		if m := p.new.Node(n.Name); m.ID != n.ID || m.Loopback != n.Loopback {
			t.Errorf("%s: id %d %s, was %d %s", n.Name, m.ID, m.Loopback, n.ID, n.Loopback)
		}
	}
	if id := p.new.Node("r0").ID; id != 4 {
		t.Errorf("r0 got id %d, want the first free one, 4", id)
	}
	again, err := stateNetwork(&State{Name: "d", Source: "new.yaml", Topology: src, Pins: p.pins})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.new.Nodes {
		if m := again.Node(n.Name); m.ID != n.ID || m.Locator != n.Locator {
			t.Errorf("stored plan of %s: id %d %s, deployed %d %s", n.Name, m.ID, m.Locator, n.ID, n.Locator)
		}
	}
}

// TestISISLabsTakeOnlyImpairments: a running IS-IS lab changes loss and
// rate, and refuses (before anything changes) nodes, links and metrics.
func TestISISLabsTakeOnlyImpairments(t *testing.T) {
	base := "routing: isis\n" + diffBase
	st := &State{Name: "d", Source: "old.yaml", Topology: base}
	tests := []struct {
		name, src string
		ok        bool
	}{
		{"loss", strings.Replace(base, "loss: 1%", "loss: 2%", 1), true},
		{"node", strings.Replace(base, "  h1: {kind: host}\n", "  h1: {kind: host}\n  h9: {kind: host}\n", 1) + "  - endpoints: [h9:eth0, r2:eth9]\n", false},
		{"link removed", strings.Replace(base, "  - endpoints: [r3:eth2, r1:eth2]\n", "", 1), false},
		{"metric", strings.Replace(base, "    loss: 1%\n", "    loss: 1%\n    metric: 20\n", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := topo.Parse("new.yaml", []byte(tt.src), topo.WithKinds(nodeKinds()))
			if err != nil {
				t.Fatal(err)
			}
			p, err := planChange(st, spec)
			if err != nil {
				t.Fatal(err)
			}
			err = checkApplicable(p, st, Layout{Dir: t.TempDir()})
			if tt.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "--replace")) {
				t.Fatalf("checkApplicable: %v", err)
			}
		})
	}
}

// TestChangePrunesRuntimeChanges: runtime impairments and down links of
// interfaces a change removes, or whose link it makes again, are
// forgotten; those of links that stay are kept.
func TestChangePrunesRuntimeChanges(t *testing.T) {
	// r1:eth2--r3:eth2 is removed; r1:eth1--r2:eth1 stays; r2:eth2--r3:eth1
	// is made again (its MTU changes).
	src := strings.Replace(diffBase, "  - endpoints: [r3:eth2, r1:eth2]\n", "", 1)
	src = strings.Replace(src, "    loss: 1%\n", "    loss: 1%\n    mtu: 1400\n", 1)
	p, err := planFrom(t, src)
	if err != nil {
		t.Fatal(err)
	}
	imp := func(node, ifc string) restv1.Impairment {
		return restv1.Impairment{Node: node, Interface: ifc, LossPercent: 5, Source: restv1.ImpairRuntime}
	}
	st := &State{
		Impairments: []restv1.Impairment{imp("r1", "eth1"), imp("r1", "eth2"), imp("r3", "eth1")},
		LinksDown:   []string{"r1:eth1", "r1:eth2", "r2:eth2"},
	}
	pruneRuntime(st, p)
	if len(st.Impairments) != 1 || st.Impairments[0] != imp("r1", "eth1") {
		t.Errorf("impairments = %+v, want only r1:eth1's", st.Impairments)
	}
	if !slices.Equal(st.LinksDown, []string{"r1:eth1"}) {
		t.Errorf("links down = %v, want [r1:eth1]", st.LinksDown)
	}
}
