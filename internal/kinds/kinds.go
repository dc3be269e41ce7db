package kinds

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/topo"
)

// Kind is what one kind of node is and does. Implementations are stateless
// and describe: they return what to configure, and the lab applies it, so
// that every kind is tested with tables and no namespace.
type Kind interface {
	// Name is the kind's value of `kind:` in a topology.
	Name() string
	// Traits tell the planner, the underlay and the controller what the
	// kind is: whether it joins the underlay, whether it is an SRv6 node.
	Traits() topo.Traits
	// Sysctls are set in the node's namespace as soon as it exists, before
	// any interface: "default" values only reach interfaces created later.
	// Keys are paths under /proc/sys.
	Sysctls(n *topo.Node) map[string]string
	// Loopback lists the addresses the node gets on lo. Interface
	// addresses are the plan's (topo.Interface.Addr4 / Addr6).
	Loopback(n *topo.Node) []netip.Prefix
	// LocalSIDs are the seg6local behaviours the node gets at deploy, on
	// the SID device; SRv6 nodes also get an unreachable route for their
	// locator so unassigned SIDs are dropped, not routed back.
	LocalSIDs(n *topo.Node) []LocalSID
	// MTU is the MTU the node wants on interface ifc; a link takes the
	// smaller of its two ends (a veth pair has one MTU).
	MTU(ifc *topo.Interface) int
	// Daemons lists the long-running processes the node runs in network
	// nw. The lab's supervisor starts them; what must wait for what (isisd
	// for zebra) is the supervisor's ordering, not this list's.
	Daemons(nw *topo.Network, n *topo.Node) []Daemon
}

// LocalSID is one seg6local route: a SID and its behaviour.
type LocalSID struct {
	SID      netip.Addr
	Behavior dataplane.Behavior
}

// Daemon names a long-running process a node runs; the lab knows how to
// start each (arguments, readiness, log).
type Daemon string

const (
	// DaemonAgent is `sr6 agent`, through which the controller programs
	// the node.
	DaemonAgent Daemon = "agent"
	// DaemonZebra and DaemonISISd are FRR's, with `routing: isis`.
	DaemonZebra Daemon = "zebra"
	DaemonISISd Daemon = "isisd"
)

// MTUs of the links: core links carry SRv6-encapsulated traffic (40 bytes
// of outer header plus 8+16n of SRH), so they get jumbo frames; edge links
// keep Ethernet's 1500 so hosts never need path MTU discovery across the
// core.
const (
	CoreMTU = 9000
	EdgeMTU = 1500
)

// BaseSysctls are what every node of a lab needs, whatever its kind: it
// accepts SRHs, keeps its IPv6 addresses when a link goes down (a link flap
// must not lose the plan), skips duplicate address detection (addresses are
// planned unique, and DAD would hold every address, link-locals included,
// tentative for seconds) and does no reverse-path filtering. Kinds add
// their own to a fresh copy.
func BaseSysctls() map[string]string {
	return map[string]string{
		"net/ipv6/conf/all/keep_addr_on_down":     "1",
		"net/ipv6/conf/default/keep_addr_on_down": "1",
		"net/ipv6/conf/all/accept_dad":            "0",
		"net/ipv6/conf/default/accept_dad":        "0",
		"net/ipv4/conf/all/rp_filter":             "0",
		"net/ipv4/conf/default/rp_filter":         "0",
		// The kernel accepts a packet with an SRH only where both "all" and
		// the receiving interface allow it, even with no segment left, as
		// H.Insert delivers to hosts.
		"net/ipv6/conf/all/seg6_enabled":     "1",
		"net/ipv6/conf/default/seg6_enabled": "1",
	}
}

// Registry maps kind names to kinds. It implements topo.Kinds, so the
// loader checks `kind:` against it and the planner takes traits from it.
// It is read-only once built.
type Registry struct {
	byName map[string]Kind
	names  []string
}

var _ topo.Kinds = (*Registry)(nil)

// New builds a registry of ks, in that order (the order error messages
// list them in). It refuses duplicate or empty names and trait combinations
// the planner does not support.
func New(ks ...Kind) (*Registry, error) {
	r := &Registry{byName: map[string]Kind{}}
	for _, k := range ks {
		name := k.Name()
		switch t := k.Traits(); {
		case name == "":
			return nil, fmt.Errorf("kind %T has no name", k)
		case r.byName[name] != nil:
			return nil, fmt.Errorf("kind %q is registered twice", name)
		case t.Has(topo.Underlay) && !t.Has(topo.SRv6):
			return nil, fmt.Errorf("kind %q: traits %s: every underlay node must be an SRv6 node", name, t)
		}
		r.byName[name] = k
		r.names = append(r.names, name)
	}
	if len(r.names) == 0 {
		return nil, fmt.Errorf("a registry needs at least one kind")
	}
	return r, nil
}

// Kind returns the kind called name.
func (r *Registry) Kind(name string) (Kind, bool) {
	k, ok := r.byName[name]
	return k, ok
}

// Of returns the kind of node n.
func (r *Registry) Of(n *topo.Node) (Kind, error) {
	k, ok := r.byName[n.Kind]
	if !ok {
		return nil, fmt.Errorf("node %s: unknown kind %q; known kinds: %v", n.Name, n.Kind, r.names)
	}
	return k, nil
}

// Traits implements topo.Kinds.
func (r *Registry) Traits(kind string) (topo.Traits, bool) {
	k, ok := r.byName[kind]
	if !ok {
		return 0, false
	}
	return k.Traits(), true
}

// Names implements topo.Kinds: the kinds in registration order.
func (r *Registry) Names() []string { return slices.Clone(r.names) }

// Load reads and validates a topology file against this registry's kinds.
func (r *Registry) Load(path string) (*topo.Spec, error) { return topo.Load(path, topo.WithKinds(r)) }

// LoadNetwork loads, validates and plans a topology file with this
// registry's kinds.
func (r *Registry) LoadNetwork(path string) (*topo.Network, error) {
	return topo.LoadNetwork(path, topo.WithKinds(r))
}

// ParseNetwork is LoadNetwork for a topology already in memory.
func (r *Registry) ParseNetwork(file string, data []byte) (*topo.Network, error) {
	return topo.ParseNetwork(file, data, topo.WithKinds(r))
}

// Daemons lists node n's daemons in network nw.
func (r *Registry) Daemons(nw *topo.Network, n *topo.Node) ([]Daemon, error) {
	k, err := r.Of(n)
	if err != nil {
		return nil, err
	}
	return k.Daemons(nw, n), nil
}

// NodesRunning returns the nodes of nw that run daemon d, in file order:
// NodesRunning(nw, DaemonAgent) are the nodes that get an agent (and that
// the controller dials).
func (r *Registry) NodesRunning(nw *topo.Network, d Daemon) ([]*topo.Node, error) {
	var out []*topo.Node
	for _, n := range nw.Nodes {
		ds, err := r.Daemons(nw, n)
		if err != nil {
			return nil, err
		}
		if slices.Contains(ds, d) {
			out = append(out, n)
		}
	}
	return out, nil
}

// LinkMTU is the MTU of link l: the link's own mtu when the file sets one,
// else the smaller of what its two ends' kinds want.
func (r *Registry) LinkMTU(l *topo.Link) (int, error) {
	if l.MTU > 0 {
		return l.MTU, nil
	}
	a, err := r.Of(l.A.Node)
	if err != nil {
		return 0, err
	}
	b, err := r.Of(l.B.Node)
	if err != nil {
		return 0, err
	}
	return min(a.MTU(l.A), b.MTU(l.B)), nil
}
