package host

import (
	"maps"
	"testing"

	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/topo"
)

func network(t *testing.T, routing string) *topo.Network {
	t.Helper()
	nw, err := topo.ParseNetwork("h.yaml", []byte(`name: h
routing: `+routing+`
nodes:
  r1: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth0, h1:eth0]
`))
	if err != nil {
		t.Fatal(err)
	}
	return nw
}

func TestTraits(t *testing.T) {
	tr := Kind{}.Traits()
	for _, trait := range []topo.Traits{topo.Underlay, topo.SRv6} {
		if tr.Has(trait) {
			t.Errorf("host has %s", trait)
		}
	}
	if (Kind{}).Name() != "host" {
		t.Errorf("name = %q", Kind{}.Name())
	}
}

func TestBehaviour(t *testing.T) {
	for _, routing := range []string{"static", "isis"} {
		t.Run(routing, func(t *testing.T) {
			nw := network(t, routing)
			h1 := nw.Node("h1")
			want := map[string]string{
				"net/ipv6/conf/all/keep_addr_on_down":     "1",
				"net/ipv6/conf/default/keep_addr_on_down": "1",
				"net/ipv6/conf/all/accept_dad":            "0",
				"net/ipv6/conf/default/accept_dad":        "0",
				"net/ipv4/conf/all/rp_filter":             "0",
				"net/ipv4/conf/default/rp_filter":         "0",
				"net/ipv6/conf/all/seg6_enabled":          "1",
				"net/ipv6/conf/default/seg6_enabled":      "1",
			}
			// A host must not forward: it would route between its links.
			if got := (Kind{}).Sysctls(h1); !maps.Equal(got, want) {
				t.Errorf("sysctls =\n%v\nwant\n%v", got, want)
			}
			if got := (Kind{}).Loopback(h1); len(got) != 0 {
				t.Errorf("loopback = %v, want none", got)
			}
			if got := (Kind{}).LocalSIDs(h1); len(got) != 0 {
				t.Errorf("local SIDs = %v, want none", got)
			}
			if got := (Kind{}).MTU(h1.Iface("eth0")); got != kinds.EdgeMTU {
				t.Errorf("MTU = %d, want %d", got, kinds.EdgeMTU)
			}
			if got := (Kind{}).Daemons(nw, h1); len(got) != 0 {
				t.Errorf("daemons = %v, want none", got)
			}
		})
	}
}
