package topo

import (
	"slices"
	"testing"
)

func TestTraits(t *testing.T) {
	for _, tt := range []struct {
		t        Traits
		str      string
		underlay bool
		srv6     bool
	}{
		{0, "none", false, false},
		{SRv6, "srv6", false, true},
		{Underlay | SRv6, "underlay|srv6", true, true},
	} {
		if got := tt.t.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if tt.t.Has(Underlay) != tt.underlay || tt.t.Has(SRv6) != tt.srv6 {
			t.Errorf("%s: Has(Underlay) %v Has(SRv6) %v", tt.str, tt.t.Has(Underlay), tt.t.Has(SRv6))
		}
		if !tt.t.Has(0) {
			t.Errorf("%s does not have the empty set", tt.str)
		}
	}
}

// testKinds is a Kinds with a third kind, to check that validation and the
// plan follow traits and not names.
type testKinds struct{}

func (testKinds) Traits(kind string) (Traits, bool) {
	switch kind {
	case KindRouter:
		return Underlay | SRv6, true
	case KindHost:
		return 0, true
	case "probe":
		return SRv6, true
	}
	return 0, false
}

func (testKinds) Names() []string { return []string{KindRouter, KindHost, "probe"} }

func TestWithKinds(t *testing.T) {
	src := `name: k
nodes:
  r1: {kind: router}
  p1: {kind: probe, id: 7}
links:
  - endpoints: [r1:eth0, p1:eth0]
`
	if _, err := ParseNetwork("k.yaml", []byte(src)); err == nil {
		t.Fatal("the built-in kinds accepted kind probe")
	}
	nw, err := ParseNetwork("k.yaml", []byte(src), WithKinds(testKinds{}))
	if err != nil {
		t.Fatal(err)
	}
	p1 := nw.Node("p1")
	if p1.Traits != SRv6 || p1.ID != 7 || p1.Locator.String() != "fc00:0:7::/48" || p1.Gateway() == nil {
		t.Errorf("p1: traits %s id %d locator %s gateway %v", p1.Traits, p1.ID, p1.Locator, p1.Gateway())
	}
	if l := nw.Links[0]; l.IsCore() || !l.Subnet4.IsValid() || l.A.Addr6.String() != "fd00:0:2:1::1/64" {
		t.Errorf("link %s: core %v subnet4 %s r1 %s: want an edge link with r1 on ::1", l, l.IsCore(), l.Subnet4, l.A.Addr6)
	}
	if got := names(nw.NodesWith(SRv6)); !slices.Equal(got, []string{"r1", "p1"}) {
		t.Errorf("NodesWith(SRv6) = %v", got)
	}
	if got := names(nw.NodesWithout(Underlay)); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("NodesWithout(Underlay) = %v", got)
	}
	s, err := Parse("k.yaml", []byte(src), WithKinds(testKinds{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Kinds().Names(); !slices.Equal(got, testKinds{}.Names()) {
		t.Errorf("spec kinds = %v", got)
	}
}

func names(ns []*Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

// TestUnknownKindLinks: a node whose kind is missing or unknown is judged
// as an underlay node on its links, so a mistyped router keeps the link
// errors it had before kinds were pluggable, and no "host has no link".
func TestUnknownKindLinks(t *testing.T) {
	src := `name: u
nodes:
  r1: {kind: ruoter}
  r2: {kind: router}
  r3: {}
links:
  - endpoints: [r1:eth1, r2:eth1]
    subnet4: 10.9.9.0/24
`
	_, err := Parse("u.yaml", []byte(src))
	checkErrors(t, "u.yaml", err, []wantErr{
		{3, 14, "nodes.r1.kind", `unknown kind "ruoter"; allowed values: router, host`},
		{5, 3, "nodes.r3.kind", "missing; allowed values: router, host"},
		{8, 14, "links[0].subnet4", "only host links carry IPv4: routers are linked over IPv6"},
	})
}
