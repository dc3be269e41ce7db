// Package host is the host kind: an end system hanging off one router (its
// gateway, the peer of its first link). It does not forward, has no
// loopback address, locator or SID, takes default routes through its
// gateway and runs no daemon; it sends and receives the traffic SRv6
// policies steer.
package host

import (
	"net/netip"

	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/topo"
)

// Kind is the host kind.
type Kind struct{}

var _ kinds.Kind = Kind{}

// Name implements kinds.Kind.
func (Kind) Name() string { return topo.KindHost }

// Traits implements kinds.Kind: none; a host is outside the underlay and
// not an SRv6 node (it still accepts SRHs, for H.Insert).
func (Kind) Traits() topo.Traits { return 0 }

// Sysctls implements kinds.Kind: only what every node needs.
func (Kind) Sysctls(*topo.Node) map[string]string { return kinds.BaseSysctls() }

// Loopback implements kinds.Kind: none.
func (Kind) Loopback(*topo.Node) []netip.Prefix { return nil }

// LocalSIDs implements kinds.Kind: none.
func (Kind) LocalSIDs(*topo.Node) []kinds.LocalSID { return nil }

// MTU implements kinds.Kind: Ethernet's.
func (Kind) MTU(*topo.Interface) int { return kinds.EdgeMTU }

// Daemons implements kinds.Kind: none.
func (Kind) Daemons(*topo.Network, *topo.Node) []kinds.Daemon { return nil }
