package controller

import (
	"fmt"
	"net/netip"
	"slices"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/pathcomp"
	"github.com/sr6net/sr6/internal/topo"
)

func bad(field string, allowed []string, format string, args ...any) *InputError {
	return &InputError{Field: field, Reason: fmt.Sprintf(format, args...), Allowed: allowed}
}

// resolved is a validated policy bound to the network.
type resolved struct {
	p        Policy
	headend  *topo.Node
	endpoint *topo.Node
	prefixes []netip.Prefix
	mode     restv1.Mode
	metric   pathcomp.Metric
	include  []*topo.Node
	exclNode []*topo.Node
	exclLink []*topo.Link
	explicit []pathcomp.Segment
}

func routerNames(nw *topo.Network) []string {
	var out []string
	for _, r := range nw.NodesWith(topo.Underlay) {
		out = append(out, r.Name)
	}
	return out
}

func (c *Controller) router(field, name string) (*topo.Node, error) {
	n := c.nw.Node(name)
	if n == nil || !n.Has(topo.Underlay) {
		return nil, bad(field, routerNames(c.nw), "%q is not a router", name)
	}
	return n, nil
}

// resolve validates p against the network. Every error is an *InputError.
func (c *Controller) resolve(p Policy) (*resolved, error) {
	r := &resolved{p: p, mode: p.Mode, metric: pathcomp.Metric(p.Metric)}
	if err := restv1.CheckName(p.Name); err != nil {
		return nil, bad("name", nil, "%v", err)
	}
	switch r.mode {
	case "":
		r.mode = restv1.ModeEncap
	case restv1.ModeEncap, restv1.ModeInline:
	default:
		return nil, bad("mode", restv1.Modes, "unknown mode %q", p.Mode)
	}
	switch r.metric {
	case "":
		r.metric = pathcomp.MetricIGP
	case pathcomp.MetricIGP, pathcomp.MetricHops, pathcomp.MetricLatency:
	default:
		return nil, bad("metric", restv1.Metrics, "unknown metric %q", p.Metric)
	}
	hostForm := p.From != "" || p.To != ""
	routerForm := p.Headend != "" || p.Endpoint != "" || len(p.Prefixes) > 0
	switch {
	case hostForm && routerForm:
		return nil, bad("from", nil, "give either from/to (hosts) or headend/endpoint/prefixes (routers), not both")
	case hostForm:
		from, to := c.nw.Node(p.From), c.nw.Node(p.To)
		if from == nil || from.Has(topo.Underlay) {
			return nil, bad("from", hostNames(c.nw), "%q is not a host", p.From)
		}
		if to == nil || to.Has(topo.Underlay) {
			return nil, bad("to", hostNames(c.nw), "%q is not a host", p.To)
		}
		if from == to {
			return nil, bad("to", nil, "%q is also the source", p.To)
		}
		r.headend, r.endpoint = from.AttachedRouter(), to.AttachedRouter()
		if r.headend == r.endpoint {
			return nil, bad("to", nil, "%s and %s are both attached to %s: a policy needs its endpoint on another router than its headend", p.From, p.To, r.headend.Name)
		}
		for _, ifc := range to.Interfaces {
			r.prefixes = append(r.prefixes, ifc.Link.Subnet4, ifc.Link.Subnet6)
		}
	case routerForm:
		var err error
		if r.headend, err = c.router("headend", p.Headend); err != nil {
			return nil, err
		}
		if r.endpoint, err = c.router("endpoint", p.Endpoint); err != nil {
			return nil, err
		}
		if r.headend == r.endpoint {
			return nil, bad("endpoint", nil, "%s is also the headend: a policy needs its endpoint on another router", p.Endpoint)
		}
		if len(p.Prefixes) == 0 {
			return nil, bad("prefixes", nil, "missing: the destinations to steer")
		}
		for i, s := range p.Prefixes {
			pf, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, bad(fmt.Sprintf("prefixes[%d]", i), nil, "%q is not a prefix", s)
			}
			r.prefixes = append(r.prefixes, pf.Masked())
		}
	default:
		return nil, bad("from", nil, "missing: give from/to (hosts) or headend/endpoint/prefixes (routers)")
	}
	if err := c.checkPrefixes(r, hostForm); err != nil {
		return nil, err
	}
	for i, name := range p.Include {
		n, err := c.router(fmt.Sprintf("include[%d]", i), name)
		if err != nil {
			return nil, err
		}
		r.include = append(r.include, n)
	}
	for i, name := range p.ExcludeNodes {
		n, err := c.router(fmt.Sprintf("exclude_nodes[%d]", i), name)
		if err != nil {
			return nil, err
		}
		if n == r.headend || n == r.endpoint {
			return nil, bad(fmt.Sprintf("exclude_nodes[%d]", i), nil, "%s is the policy's headend or endpoint", name)
		}
		// A waypoint the path must avoid can never be met: refused now,
		// rather than stored as a policy that is down for ever.
		if w := slices.Index(r.include, n); w >= 0 {
			return nil, bad(fmt.Sprintf("exclude_nodes[%d]", i), nil, "%s is also a waypoint (include[%d]): the path cannot both visit and avoid it", name, w)
		}
		r.exclNode = append(r.exclNode, n)
	}
	for i, name := range p.ExcludeLinks {
		l, err := c.linkByEndpoint(name)
		if err != nil {
			return nil, bad(fmt.Sprintf("exclude_links[%d]", i), nil, "%v", err)
		}
		r.exclLink = append(r.exclLink, l)
	}
	if p.DisjointFrom == p.Name && p.Name != "" {
		return nil, bad("disjoint_from", nil, "a policy cannot be disjoint from itself")
	}
	for i, name := range p.Segments {
		field := fmt.Sprintf("segments[%d]", i)
		if a, err := netip.ParseAddr(name); err == nil {
			seg, ok := c.sids[a]
			if !ok {
				return nil, bad(field, nil, "%s is not an End or End.X SID of this network", a)
			}
			r.explicit = append(r.explicit, seg)
			continue
		}
		n, err := c.router(field, name)
		if err != nil {
			return nil, err
		}
		r.explicit = append(r.explicit, pathcomp.Segment{Node: c.routerID[n], Adj: pathcomp.NoLink})
	}
	if n := c.explicitLength(r); n > maxSegments(r.mode) {
		return nil, bad("segments", nil, "the kernel installs at most %d SIDs in %s mode (an SRH holds %d); these %d segments make %d",
			maxSegments(r.mode), r.mode, dataplane.MaxSegments, len(p.Segments), n)
	}
	if len(p.Segments) > 0 && (len(p.Include) > 0 || len(p.ExcludeNodes) > 0 || len(p.ExcludeLinks) > 0 || p.DisjointFrom != "") {
		return nil, bad("segments", nil, "an explicit segment list takes no constraints")
	}
	return r, nil
}

// maxSegments is the longest SID list the kernel installs in mode: H.Insert
// spends one SRH slot on the packet's own destination.
func maxSegments(mode restv1.Mode) int {
	if mode == restv1.ModeInline {
		return dataplane.MaxSegments - 1
	}
	return dataplane.MaxSegments
}

// explicitLength is how many SIDs r's explicit segment list installs: one
// per segment, the last replaced by (or followed by) the endpoint's SID.
func (c *Controller) explicitLength(r *resolved) int {
	n := len(r.explicit)
	if n == 0 {
		return 0
	}
	if last := r.explicit[n-1]; last.Node != c.routerID[r.endpoint] || last.Adj != pathcomp.NoLink {
		n++
	}
	return n
}

// checkPrefixes refuses prefixes the headend cannot steer: duplicates (one
// kernel route per prefix), and prefixes the headend reaches directly or
// owns (its link and host subnets, its loopback and locator): steering them
// would replace its own connected route or loop through its own SIDs.
func (c *Controller) checkPrefixes(r *resolved, hostForm bool) error {
	field := func(i int) string {
		if hostForm {
			return "to"
		}
		return fmt.Sprintf("prefixes[%d]", i)
	}
	seen := map[netip.Prefix]int{}
	for i, pf := range r.prefixes {
		if j, dup := seen[pf]; dup {
			return bad(field(i), nil, "%s is the same prefix as prefixes[%d]", pf, j)
		}
		seen[pf] = i
		h := r.headend
		local := []netip.Prefix{h.Locator, netip.PrefixFrom(h.Loopback, 128)}
		for _, ifc := range h.Interfaces {
			local = append(local, ifc.Link.Subnet6)
			if ifc.Link.Subnet4.IsValid() {
				local = append(local, ifc.Link.Subnet4)
			}
		}
		for _, l := range local {
			if l.Overlaps(pf) {
				return bad(field(i), nil, "%s overlaps %s, which headend %s reaches directly or owns", pf, l, h.Name)
			}
		}
	}
	return nil
}

func hostNames(nw *topo.Network) []string {
	var out []string
	for _, n := range nw.NodesWithout(topo.Underlay) {
		out = append(out, n.Name)
	}
	return out
}

func (c *Controller) linkByEndpoint(ep string) (*topo.Link, error) {
	e, err := topo.ParseEndpoint(ep)
	if err != nil {
		return nil, err
	}
	n := c.nw.Node(e.Node)
	if n == nil {
		return nil, fmt.Errorf("no node %q", e.Node)
	}
	ifc := n.Iface(e.Iface)
	if ifc == nil {
		return nil, fmt.Errorf("node %s has no interface %q", e.Node, e.Iface)
	}
	return ifc.Link, nil
}

func sameStrings(a, b []string) bool { return slices.Equal(a, b) }
