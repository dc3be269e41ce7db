package topo

import (
	"strings"
	"testing"
)

const pinsBase = `name: p
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth2, r3:eth1]
  - endpoints: [r3:eth2, r1:eth2]
  - endpoints: [h1:eth0, r1:eth0]
`

func planPinned(t *testing.T, src string, p *Pins) (*Network, error) {
	t.Helper()
	s, err := Parse("new.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return PlanPinned(s, p)
}

// TestPlanPinnedKeepsWhatStays: nodes and links that stay keep their ids,
// addresses, subnets and End.X SIDs, however the new file reorders or
// inserts; new ones take what is free.
func TestPlanPinnedKeepsWhatStays(t *testing.T) {
	old := parseNetwork(t, pinsBase)
	tests := []struct {
		name string
		src  string
	}{
		{"node and link inserted first", `name: p
nodes:
  r0: {kind: router}
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r0:eth1, r1:eth3]
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth2, r3:eth1]
  - endpoints: [r3:eth2, r1:eth2]
  - endpoints: [h1:eth0, r1:eth0]
`},
		{"first node and its links removed", `name: p
nodes:
  r2: {kind: router}
  r3: {kind: router}
links:
  - endpoints: [r2:eth2, r3:eth1]
`},
		{"ends written the other way round", `name: p
nodes:
  r3: {kind: router}
  r2: {kind: router}
  r1: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r0:eth0, r1:eth0]
  - endpoints: [r1:eth0, h1:eth0]
  - endpoints: [r1:eth2, r3:eth2]
  - endpoints: [r3:eth1, r2:eth2]
  - endpoints: [r2:eth1, r1:eth1]
`},
	}
	// The third case names an unknown node on purpose: drop that link.
	tests[2].src = strings.Replace(tests[2].src, "  - endpoints: [r0:eth0, r1:eth0]\n", "", 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw, err := planPinned(t, tt.src, PinsOf(old))
			if err != nil {
				t.Fatalf("PlanPinned: %v", err)
			}
			ids := map[int]string{}
			for _, n := range nw.Nodes {
				if n.Has(SRv6) {
					if other, dup := ids[n.ID]; dup {
						t.Errorf("id %d given to %s and %s", n.ID, other, n.Name)
					}
					ids[n.ID] = n.Name
				}
				o := old.Node(n.Name)
				if o == nil {
					continue
				}
				if n.ID != o.ID || n.Loopback != o.Loopback || n.Locator != o.Locator || n.SIDs != o.SIDs {
					t.Errorf("%s: id %d %s %s, was id %d %s %s", n.Name, n.ID, n.Loopback, n.Locator, o.ID, o.Loopback, o.Locator)
				}
				for _, ifc := range n.Interfaces {
					oi := o.Iface(ifc.Name)
					if oi == nil || oi.Link.Key() != ifc.Link.Key() {
						continue
					}
					if ifc.AdjSID != oi.AdjSID || ifc.Addr6 != oi.Addr6 || ifc.Addr4 != oi.Addr4 {
						t.Errorf("%s:%s: %s %s %s, was %s %s %s", n.Name, ifc.Name, ifc.AdjSID, ifc.Addr6, ifc.Addr4, oi.AdjSID, oi.Addr6, oi.Addr4)
					}
				}
			}
			sids := map[string]string{}
			for _, n := range nw.Nodes {
				for _, ifc := range n.Interfaces {
					if ifc.AdjSID.IsValid() {
						if other, dup := sids[ifc.AdjSID.String()]; dup {
							t.Errorf("End.X SID %s on %s and %s:%s", ifc.AdjSID, other, n.Name, ifc.Name)
						}
						sids[ifc.AdjSID.String()] = n.Name + ":" + ifc.Name
					}
				}
			}
		})
	}
}

// TestPlanPinnedWithoutPinsIsPlan: no pins, the plan of every example is
// Plan's.
func TestPlanPinnedWithoutPinsIsPlan(t *testing.T) {
	a := parseNetwork(t, pinsBase)
	b, err := planPinned(t, pinsBase, nil)
	if err != nil {
		t.Fatal(err)
	}
	if PinsOf(a).String() != PinsOf(b).String() {
		t.Fatalf("pins differ: %s vs %s", PinsOf(a), PinsOf(b))
	}
	for k, v := range PinsOf(a).AdjSIDs {
		if PinsOf(b).AdjSIDs[k] != v {
			t.Errorf("%s: %s vs %s", k, v, PinsOf(b).AdjSIDs[k])
		}
	}
}

// TestPlanPinnedRefusesWhatCannotStay: an id the file sets that a kept
// router holds, or a subnet overlapping a kept link's, is an error at the
// file's position.
func TestPlanPinnedRefusesWhatCannotStay(t *testing.T) {
	old := parseNetwork(t, pinsBase)
	tests := []struct {
		name, src, want string
	}{
		{"id of a kept router", strings.Replace(pinsBase, "  h1: {kind: host}\n", "  h1: {kind: host}\n  r4: {kind: router, id: 2}\n", 1),
			"new.yaml:7:"},
		{"subnet of a kept link", pinsBase + "  - endpoints: [r2:eth9, r3:eth9]\n    subnet6: fd00:0:1:1::/64\n",
			"overlaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := planPinned(t, tt.src, PinsOf(old))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
