package controller

import (
	"fmt"
	"net/netip"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/topo"
)

// The API's types are the public contract's (api/rest/v1); the aliases keep
// the controller's code reading as it did before they moved there.
type (
	Policy       = restv1.Policy
	Status       = restv1.Status
	PolicyView   = restv1.PolicyView
	Session      = restv1.Session
	SessionView  = restv1.SessionView
	LossResult   = restv1.LossResult
	TopologyView = restv1.Topology
	// InputError is a bad request (400): the field at fault, why, and the
	// allowed values when there is a fixed set.
	InputError = restv1.Error
)

// NotFoundError is a request for a policy, session or node that does not
// exist (404).
type NotFoundError struct {
	What string // policy, session, node
	Name string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("no %s %q", e.What, e.Name) }

func notFound(what, name string) error { return &NotFoundError{What: what, Name: name} }

// ConflictError is a request that contradicts what exists (409): a name
// taken, a prefix another policy steers. It unwraps to its *InputError,
// so callers that only look for bad input still find the field.
type ConflictError struct{ In *InputError }

func (e *ConflictError) Error() string { return e.In.Error() }
func (e *ConflictError) Unwrap() error { return e.In }

func conflict(field, format string, args ...any) error {
	return &ConflictError{In: bad(field, nil, format, args...)}
}

// topologyView is nw as the API shows it, with each link's live state.
func topologyView(nw *topo.Network, up func(*topo.Link) bool) TopologyView {
	j := nw.JSON()
	v := TopologyView{Name: j.Name, Routing: j.Routing, Nodes: make([]restv1.Node, 0, len(j.Nodes)),
		Links: make([]restv1.Link, 0, len(j.Links))}
	for _, n := range j.Nodes {
		rn := restv1.Node{Name: n.Name, Kind: n.Kind, ID: n.ID, Loopback: n.Loopback, Locator: n.Locator,
			Interfaces: make([]restv1.Interface, 0, len(n.Interfaces))}
		if n.SIDs != nil {
			rn.SIDs = &restv1.SIDs{End: n.SIDs.End, DX4: n.SIDs.DX4, DT6: n.SIDs.DT6}
		}
		for _, i := range n.Interfaces {
			rn.Interfaces = append(rn.Interfaces, restv1.Interface{Name: i.Name, Peer: i.Peer, Addr4: i.Addr4, Addr6: i.Addr6, Adj: i.Adj})
		}
		v.Nodes = append(v.Nodes, rn)
	}
	for i, l := range j.Links {
		v.Links = append(v.Links, restv1.Link{Endpoints: l.Endpoints, Metric: l.Metric, Latency: l.Latency, Loss: l.Loss,
			Rate: l.Rate, Subnet4: l.Subnet4, Subnet6: l.Subnet6, Up: up(nw.Links[i])})
	}
	return v
}

// nodeStateView is a node's desired state as the API shows it.
func nodeStateView(st *intent.State) restv1.NodeState {
	v := restv1.NodeState{Steering: make([]restv1.SteeringRoute, 0, len(st.Steering)),
		SIDs: make([]restv1.LocalSID, 0, len(st.SIDs)), Underlay: make([]restv1.UnderlayRoute, 0, len(st.Underlay)),
		Generation: st.Generation, PM: pmView(st.PM)}
	for _, s := range st.Steering {
		v.Steering = append(v.Steering, restv1.SteeringRoute{Prefix: s.Prefix, Mode: modeView(s.Mode),
			Segments: nonNil(s.Segments), Policy: s.Policy})
	}
	for _, sid := range st.SIDs {
		b := sid.Behavior
		v.SIDs = append(v.SIDs, restv1.LocalSID{SID: sid.SID, Action: string(b.Action), NH4: optAddr(b.NH4), NH6: optAddr(b.NH6),
			Table: b.Table, OIF: sid.OIFName, Segments: b.Segments})
	}
	for _, u := range st.Underlay {
		v.Underlay = append(v.Underlay, restv1.UnderlayRoute{Prefix: u.Prefix, Via: optAddr(u.Via), Dev: u.Dev, Unreachable: u.Unreachable})
	}
	return v
}

func pmView(pm *intent.PM) *restv1.NodePM {
	if pm == nil {
		return nil
	}
	v := &restv1.NodePM{PeriodMs: uint32(pm.Period.Milliseconds()), MarkMask: pm.MarkMask, ProbeAddr: optAddr(pm.Probe),
		ClocksSynced: pm.ClocksSynced, Lists: make([]restv1.PMList, 0, len(pm.Lists)), Delays: make([]restv1.PMDelay, 0, len(pm.Delays))}
	for _, l := range pm.Lists {
		role := restv1.RoleTail
		if l.Headend {
			role = restv1.RoleHeadend
		}
		v.Lists = append(v.Lists, restv1.PMList{Session: l.Session, Policy: l.Policy, Segments: nonNil(l.Segments), Role: role})
	}
	for _, d := range pm.Delays {
		v.Delays = append(v.Delays, restv1.PMDelay{Session: d.Session, Policy: d.Policy, Target: d.Target,
			IntervalMs: uint32(d.Interval.Milliseconds())})
	}
	return v
}

func modeView(m dataplane.Mode) restv1.Mode {
	if m == dataplane.ModeInline {
		return restv1.ModeInline
	}
	return restv1.ModeEncap
}

// optAddr is a for an optional field: nil when unset.
func optAddr(a netip.Addr) *netip.Addr {
	if !a.IsValid() {
		return nil
	}
	return &a
}

func nonNil(as []netip.Addr) []netip.Addr {
	if as == nil {
		return []netip.Addr{}
	}
	return as
}
