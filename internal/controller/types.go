package controller

import (
	"fmt"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
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
