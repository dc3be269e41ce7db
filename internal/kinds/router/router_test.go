package router

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/topo"
)

// network plans a router r1 linked to router r2 (core) and host h1 (edge).
func network(t *testing.T, routing string) *topo.Network {
	t.Helper()
	nw, err := topo.ParseNetwork("r.yaml", []byte(`name: r
routing: `+routing+`
nodes:
  r1: {kind: router}
  r2: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r1:eth0, h1:eth0]
`))
	if err != nil {
		t.Fatal(err)
	}
	return nw
}

func TestTraits(t *testing.T) {
	tr := Kind{}.Traits()
	for _, tt := range []struct {
		trait topo.Traits
		want  bool
	}{
		{topo.Underlay, true},
		{topo.SRv6, true},
		{topo.Underlay | topo.SRv6, true},
	} {
		if got := tr.Has(tt.trait); got != tt.want {
			t.Errorf("router has %s = %v, want %v", tt.trait, got, tt.want)
		}
	}
	if (Kind{}).Name() != "router" {
		t.Errorf("name = %q", Kind{}.Name())
	}
}

func TestSysctls(t *testing.T) {
	r1 := network(t, "static").Node("r1")
	got := Kind{}.Sysctls(r1)
	want := map[string]string{
		"net/ipv6/conf/all/forwarding":            "1",
		"net/ipv4/ip_forward":                     "1",
		"net/ipv6/conf/all/keep_addr_on_down":     "1",
		"net/ipv6/conf/default/keep_addr_on_down": "1",
		"net/ipv6/conf/all/accept_dad":            "0",
		"net/ipv6/conf/default/accept_dad":        "0",
		"net/ipv4/conf/all/rp_filter":             "0",
		"net/ipv4/conf/default/rp_filter":         "0",
		"net/ipv6/conf/all/seg6_enabled":          "1",
		"net/ipv6/conf/default/seg6_enabled":      "1",
	}
	if !maps.Equal(got, want) {
		t.Errorf("sysctls =\n%v\nwant\n%v", got, want)
	}
	// Each call returns a fresh map: the lab may change it.
	got["net/ipv4/ip_forward"] = "0"
	if (Kind{}).Sysctls(r1)["net/ipv4/ip_forward"] != "1" {
		t.Error("Sysctls returned a shared map")
	}
}

func TestAddressesAndSIDs(t *testing.T) {
	r1 := network(t, "static").Node("r1")
	if got, want := (Kind{}).Loopback(r1), []netip.Prefix{netip.MustParsePrefix("fd00:0:ff::1/128")}; !slices.Equal(got, want) {
		t.Errorf("loopback = %v, want %v", got, want)
	}
	want := []kinds.LocalSID{
		{SID: netip.MustParseAddr("fc00:0:1::1"), Behavior: dataplane.Behavior{Action: dataplane.End}},
		{SID: netip.MustParseAddr("fc00:0:1::d4"), Behavior: dataplane.Behavior{Action: dataplane.EndDX4, NH4: netip.IPv4Unspecified()}},
		{SID: netip.MustParseAddr("fc00:0:1::d6"), Behavior: dataplane.Behavior{Action: dataplane.EndDT6, Table: unix.RT_TABLE_MAIN}},
	}
	got := Kind{}.LocalSIDs(r1)
	if len(got) != len(want) {
		t.Fatalf("local SIDs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].SID != want[i].SID || got[i].Behavior.Action != want[i].Behavior.Action ||
			got[i].Behavior.NH4 != want[i].Behavior.NH4 || got[i].Behavior.Table != want[i].Behavior.Table {
			t.Errorf("local SID %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestMTU(t *testing.T) {
	r1 := network(t, "static").Node("r1")
	for _, tt := range []struct {
		iface string
		want  int
	}{
		{"eth1", kinds.CoreMTU}, // to r2
		{"eth0", kinds.EdgeMTU}, // to h1
	} {
		if got := (Kind{}).MTU(r1.Iface(tt.iface)); got != tt.want {
			t.Errorf("MTU(%s) = %d, want %d", tt.iface, got, tt.want)
		}
	}
}

func TestDaemons(t *testing.T) {
	for _, tt := range []struct {
		routing string
		want    []kinds.Daemon
	}{
		{"static", []kinds.Daemon{kinds.DaemonAgent}},
		{"isis", []kinds.Daemon{kinds.DaemonZebra, kinds.DaemonISISd, kinds.DaemonAgent}},
	} {
		nw := network(t, tt.routing)
		if got := (Kind{}).Daemons(nw, nw.Node("r1")); !slices.Equal(got, tt.want) {
			t.Errorf("routing %s: daemons = %v, want %v", tt.routing, got, tt.want)
		}
	}
}
