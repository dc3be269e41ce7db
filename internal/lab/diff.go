package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sr6net/sr6/internal/topo"
)

// Change is one difference between a running lab and a new topology.
type Change struct {
	Op     string `json:"op"`     // add, remove, replace (remove, then add) or set
	Object string `json:"object"` // node or link
	Name   string `json:"name"`   // node name, or link "a:eth1--b:eth1"
	Detail string `json:"detail,omitempty"`
}

func (c Change) String() string {
	sign := map[string]string{"add": "+", "remove": "-", "replace": "±", "set": "~"}[c.Op]
	s := fmt.Sprintf("%s %s %s %s", sign, c.Op, c.Object, c.Name)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// DeployPlan is what deploying a topology onto a lab does: with the lab
// running, only the difference is applied and the rest left running.
type DeployPlan struct {
	Lab string `json:"lab"`
	// Deployed: the lab runs; otherwise deploy creates it whole (and
	// Changes lists nothing).
	Deployed bool     `json:"deployed"`
	UpToDate bool     `json:"up_to_date"`
	Changes  []Change `json:"changes"`

	old, new *topo.Network
	pins     *topo.Pins // of new, kept in the state
	// addNodes are nodes of new to create, delNodes nodes of old to remove;
	// a replaced node is in both.
	addNodes, delNodes []*topo.Node
	// addLinks are links of new to create, delLinks links of old to
	// delete; impair links of new whose loss or rate changed.
	addLinks, delLinks, impair []*topo.Link
	// metric are links of new whose IGP metric changed.
	metric []*topo.Link
}

// Print writes p for people: one line per change, or that the lab is up
// to date.
func (p *DeployPlan) Print(w io.Writer) {
	switch {
	case !p.Deployed:
		fmt.Fprintf(w, "lab %s is not deployed: deploy creates it\n", p.Lab)
	case p.UpToDate:
		fmt.Fprintf(w, "lab %s is up to date\n", p.Lab)
	default:
		fmt.Fprintf(w, "lab %s: %d changes\n", p.Lab, len(p.Changes))
		for _, c := range p.Changes {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
}

// PlanDeploy tells what Deploy of the topology source (file sourceName)
// would do to the lab it names, changing nothing.
func PlanDeploy(sourceName string, source []byte, opts Options) (*DeployPlan, error) {
	opts.defaults()
	spec, err := topo.Parse(sourceName, source, topo.WithKinds(nodeKinds()))
	if err != nil {
		return nil, err
	}
	old, err := opts.Store.Load(spec.Name.V)
	if errors.Is(err, os.ErrNotExist) {
		return &DeployPlan{Lab: spec.Name.V, Changes: []Change{}}, nil
	}
	if err != nil {
		return nil, err
	}
	if old.Phase == PhaseDeploying {
		return &DeployPlan{Lab: spec.Name.V, Changes: []Change{}}, nil
	}
	if old.Phase == PhaseUpdating && old.Hash != topologyHash(source) {
		return nil, halfWayError(old)
	}
	return planChange(old, spec)
}

// halfWayError refuses another file while a change is unfinished.
func halfWayError(old *State) error {
	return fmt.Errorf("lab %s is half way through a change to %s: deploy that file again to finish it, or deploy with --replace",
		old.Name, old.Source)
}

// planChange plans spec onto the lab old describes. A lab half-way
// through an update plans from where it started, so that the plan of the
// same file again is what is left to finish.
func planChange(old *State, spec *topo.Spec) (*DeployPlan, error) {
	from := old
	if old.Previous != nil {
		from = &State{Name: old.Name, Source: old.Previous.Source, Topology: old.Previous.Topology, Pins: old.Previous.Pins}
	}
	oldNw, err := stateNetwork(from)
	if err != nil {
		return nil, fmt.Errorf("lab %s: stored topology: %w", old.Name, err)
	}
	pins := keptPins(oldNw, spec)
	nw, err := topo.PlanPinned(spec, pins)
	if err != nil {
		return nil, err
	}
	p, err := diffNetworks(oldNw, nw)
	if err != nil {
		return nil, err
	}
	p.pins = topo.PinsOf(nw)
	if old.Previous != nil && p.UpToDate {
		// Nothing differs from where the update started, yet it did not
		// finish: finishing is a change.
		p.UpToDate = false
	}
	return p, nil
}

// keptPins are the pins of old that apply to spec: ids of routers that
// stay of the same kind, subnets and End.X SIDs of links whose two ends
// stay of the same kind.
func keptPins(old *topo.Network, spec *topo.Spec) *topo.Pins {
	all := topo.PinsOf(old)
	kind := map[string]string{}
	for _, ns := range spec.Nodes {
		kind[ns.Name.V] = ns.Kind.V
	}
	same := func(node string) bool {
		n := old.Node(node)
		return n != nil && kind[node] == n.Kind
	}
	p := &topo.Pins{IDs: map[string]int{}, Subnets: map[string]topo.LinkSubnets{}, AdjSIDs: all.AdjSIDs}
	for name, id := range all.IDs {
		if same(name) {
			p.IDs[name] = id
		}
	}
	for _, l := range old.Links {
		if same(l.A.Node.Name) && same(l.B.Node.Name) {
			p.Subnets[l.Key()] = all.Subnets[l.Key()]
		}
	}
	return p
}

// diffNetworks compares two plans of the same lab. What cannot change
// under a running lab (its routing, its address pools) is an error naming
// --replace.
func diffNetworks(old, nw *topo.Network) (*DeployPlan, error) {
	if old.Name != nw.Name {
		return nil, fmt.Errorf("lab %s is not lab %s: a renamed lab is another lab", nw.Name, old.Name)
	}
	if old.Routing != nw.Routing {
		return nil, fmt.Errorf("lab %s: routing changes from %s to %s, which a running lab cannot do: deploy with --replace", nw.Name, old.Routing, nw.Routing)
	}
	if old.Pools != nw.Pools {
		return nil, fmt.Errorf("lab %s: the address plan (plan:) changes, which would renumber every running node: deploy with --replace", nw.Name)
	}
	p := &DeployPlan{Lab: nw.Name, Deployed: true, old: old, new: nw, Changes: []Change{}}
	replaced := map[string]bool{}
	for _, n := range nw.Nodes {
		o := old.Node(n.Name)
		switch {
		case o == nil:
			p.addNodes = append(p.addNodes, n)
			p.Changes = append(p.Changes, Change{Op: "add", Object: "node", Name: n.Name, Detail: n.Kind})
		case nodeDiff(o, n) != "":
			replaced[n.Name] = true
			p.addNodes, p.delNodes = append(p.addNodes, n), append(p.delNodes, o)
			p.Changes = append(p.Changes, Change{Op: "replace", Object: "node", Name: n.Name, Detail: nodeDiff(o, n)})
		}
	}
	for _, o := range old.Nodes {
		if nw.Node(o.Name) == nil {
			p.delNodes = append(p.delNodes, o)
			p.Changes = append(p.Changes, Change{Op: "remove", Object: "node", Name: o.Name, Detail: o.Kind})
		}
	}
	oldLinks := map[string]*topo.Link{}
	for _, l := range old.Links {
		oldLinks[l.Key()] = l
	}
	newLinks := map[string]bool{}
	for _, l := range nw.Links {
		newLinks[l.Key()] = true
		o := oldLinks[l.Key()]
		if o == nil {
			p.addLinks = append(p.addLinks, l)
			p.Changes = append(p.Changes, Change{Op: "add", Object: "link", Name: l.Key(), Detail: linkDetail(l)})
			continue
		}
		if replaced[l.A.Node.Name] || replaced[l.B.Node.Name] {
			p.addLinks, p.delLinks = append(p.addLinks, l), append(p.delLinks, o)
			p.Changes = append(p.Changes, Change{Op: "replace", Object: "link", Name: l.Key(), Detail: "an end's node is replaced"})
			continue
		}
		why := addrDiff(o, l)
		if why == "" {
			why = mtuDiff(o, l)
		}
		if why != "" {
			p.addLinks, p.delLinks = append(p.addLinks, l), append(p.delLinks, o)
			p.Changes = append(p.Changes, Change{Op: "replace", Object: "link", Name: l.Key(), Detail: why})
			continue
		}
		var set []string
		if o.Loss != l.Loss || o.Rate != l.Rate {
			p.impair = append(p.impair, l)
			if o.Loss != l.Loss {
				set = append(set, fmt.Sprintf("loss %g%% -> %g%%", o.Loss, l.Loss))
			}
			if o.Rate != l.Rate {
				set = append(set, fmt.Sprintf("rate %s -> %s", rateText(o.Rate), rateText(l.Rate)))
			}
		}
		if o.Metric != l.Metric {
			p.metric = append(p.metric, l)
			set = append(set, fmt.Sprintf("metric %d -> %d", o.Metric, l.Metric))
		}
		if o.Latency != l.Latency {
			set = append(set, fmt.Sprintf("latency %dus -> %dus", o.Latency, l.Latency))
		}
		if len(set) > 0 {
			p.Changes = append(p.Changes, Change{Op: "set", Object: "link", Name: l.Key(), Detail: strings.Join(set, ", ")})
		}
	}
	for _, o := range old.Links {
		if !newLinks[o.Key()] {
			p.delLinks = append(p.delLinks, o)
			p.Changes = append(p.Changes, Change{Op: "remove", Object: "link", Name: o.Key()})
		}
	}
	p.UpToDate = len(p.Changes) == 0
	return p, nil
}

// nodeDiff says why n is not the node o any more ("" when it is): its
// kind or its planned identity changed, so it is removed and added again.
func nodeDiff(o, n *topo.Node) string {
	switch {
	case o.Kind != n.Kind:
		return fmt.Sprintf("kind %s -> %s", o.Kind, n.Kind)
	case o.ID != n.ID:
		return fmt.Sprintf("id %d -> %d", o.ID, n.ID)
	case o.Loopback != n.Loopback:
		return fmt.Sprintf("loopback %s -> %s", o.Loopback, n.Loopback)
	case o.Locator != n.Locator:
		return fmt.Sprintf("locator %s -> %s", o.Locator, n.Locator)
	}
	return ""
}

// addrDiff says why link l's addressing is not o's ("" when it is).
func addrDiff(o, l *topo.Link) string {
	switch {
	case o.Subnet6 != l.Subnet6:
		return fmt.Sprintf("subnet6 %s -> %s", o.Subnet6, l.Subnet6)
	case o.Subnet4 != l.Subnet4:
		return fmt.Sprintf("subnet4 %s -> %s", o.Subnet4, l.Subnet4)
	}
	ends := func(k *topo.Link) map[string]*topo.Interface {
		return map[string]*topo.Interface{k.A.Node.Name + ":" + k.A.Name: k.A, k.B.Node.Name + ":" + k.B.Name: k.B}
	}
	oe := ends(o)
	for name, ifc := range ends(l) {
		if oi := oe[name]; oi == nil || oi.Addr6 != ifc.Addr6 || oi.Addr4 != ifc.Addr4 || oi.AdjSID != ifc.AdjSID {
			return "addresses of " + name + " change"
		}
	}
	return ""
}

// mtuDiff says how the MTU of link l differs from o's ("" when it does
// not): a veth pair is created with its MTU, so the link is made again.
func mtuDiff(o, l *topo.Link) string {
	om, oerr := nodeKinds().LinkMTU(o)
	nm, nerr := nodeKinds().LinkMTU(l)
	if oerr != nil || nerr != nil || om == nm {
		return ""
	}
	return fmt.Sprintf("mtu %d -> %d", om, nm)
}

func linkDetail(l *topo.Link) string {
	var parts []string
	if l.Metric != topo.DefaultMetric {
		parts = append(parts, fmt.Sprintf("metric %d", l.Metric))
	}
	if l.Loss != 0 {
		parts = append(parts, fmt.Sprintf("loss %g%%", l.Loss))
	}
	if l.Rate != 0 {
		parts = append(parts, "rate "+rateText(l.Rate))
	}
	return strings.Join(parts, ", ")
}

func rateText(bps uint64) string {
	switch {
	case bps == 0:
		return "unlimited"
	case bps%1_000_000_000 == 0:
		return fmt.Sprintf("%dgbit", bps/1_000_000_000)
	case bps%1_000_000 == 0:
		return fmt.Sprintf("%dmbit", bps/1_000_000)
	case bps%1_000 == 0:
		return fmt.Sprintf("%dkbit", bps/1_000)
	}
	return fmt.Sprintf("%dbit", bps)
}
