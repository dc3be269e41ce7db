// Package router is the router kind: an SRv6 router of the underlay. It
// forwards, has a loopback, a locator and the End / End.DX4 / End.DT6 SIDs,
// takes part in the static underlay or IS-IS (FRR zebra and isisd), and
// runs the sr6 agent the controller programs it through.
package router

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/topo"
)

// Kind is the router kind.
type Kind struct{}

var _ kinds.Kind = Kind{}

// Name implements kinds.Kind.
func (Kind) Name() string { return topo.KindRouter }

// Traits implements kinds.Kind: routers are the underlay, and SRv6 nodes.
func (Kind) Traits() topo.Traits { return topo.Underlay | topo.SRv6 }

// Sysctls implements kinds.Kind: a router forwards both families on top of
// what every node needs.
func (Kind) Sysctls(*topo.Node) map[string]string {
	s := kinds.BaseSysctls()
	s["net/ipv6/conf/all/forwarding"] = "1"
	s["net/ipv4/ip_forward"] = "1"
	return s
}

// Loopback implements kinds.Kind: the planned loopback, a /128.
func (Kind) Loopback(n *topo.Node) []netip.Prefix {
	return []netip.Prefix{netip.PrefixFrom(n.Loopback, 128)}
}

// LocalSIDs implements kinds.Kind: End for waypoints, End.DX4 (nh4 0.0.0.0:
// decapsulate and route the inner IPv4 packet, as there is no VRF for
// End.DT4) and End.DT6 in the main table.
func (Kind) LocalSIDs(n *topo.Node) []kinds.LocalSID {
	return []kinds.LocalSID{
		{SID: n.SIDs.End, Behavior: dataplane.Behavior{Action: dataplane.End}},
		{SID: n.SIDs.DX4, Behavior: dataplane.Behavior{Action: dataplane.EndDX4, NH4: netip.IPv4Unspecified()}},
		{SID: n.SIDs.DT6, Behavior: dataplane.Behavior{Action: dataplane.EndDT6, Table: unix.RT_TABLE_MAIN}},
	}
}

// MTU implements kinds.Kind: jumbo frames on core links, Ethernet's 1500 on
// the links to hosts.
func (Kind) MTU(ifc *topo.Interface) int {
	if ifc.Link.IsCore() {
		return kinds.CoreMTU
	}
	return kinds.EdgeMTU
}

// Daemons implements kinds.Kind: FRR's zebra and isisd with `routing:
// isis`, and the agent (the lab's supervisor orders isisd after zebra; the
// agent needs neither).
func (Kind) Daemons(nw *topo.Network, _ *topo.Node) []kinds.Daemon {
	if nw.Routing == topo.RoutingISIS {
		return []kinds.Daemon{kinds.DaemonZebra, kinds.DaemonISISd, kinds.DaemonAgent}
	}
	return []kinds.Daemon{kinds.DaemonAgent}
}
