package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// Policy is a static SRv6 policy of a lab: traffic from host From to host
// To is steered at From's router (the headend) through the End SIDs of the
// Via routers, then decapsulated at To's router (End.DX4 for IPv4, End.DT6
// for IPv6). Policies are one-way; PolicyRequest.Reverse adds the mirror.
type Policy struct {
	Name     string         `json:"name"`
	From     string         `json:"from"`
	To       string         `json:"to"`
	Via      []string       `json:"via"`
	Mode     dataplane.Mode `json:"mode"`
	Headend  string         `json:"headend"`
	Tail     string         `json:"tail"`
	Steering []Steering     `json:"steering"`
}

// Steering is one headend route of a policy.
type Steering struct {
	Prefix   netip.Prefix   `json:"prefix"`
	Mode     dataplane.Mode `json:"mode"`
	Segments []netip.Addr   `json:"segments"`
	Dev      string         `json:"dev"`
}

// PolicyRequest asks for a policy.
type PolicyRequest struct {
	Name    string
	From    string
	To      string
	Via     []string
	Mode    dataplane.Mode
	Reverse bool // also install NAME-rev from To to From through Via reversed
}

var policyName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// planPolicy checks req against the network and computes its steering.
func planPolicy(nw *topo.Network, req PolicyRequest) (Policy, error) {
	if !policyName.MatchString(req.Name) {
		return Policy{}, fmt.Errorf("name: %q is not a policy name: 1 to 32 of A-Z a-z 0-9 _ -", req.Name)
	}
	host := func(field, name string) (*topo.Node, error) {
		n := nw.Node(name)
		switch {
		case n == nil:
			return nil, fmt.Errorf("%s: no node %q in lab %s", field, name, nw.Name)
		case n.Has(topo.Underlay):
			return nil, fmt.Errorf("%s: %s is a %s; policies go from host to host", field, name, n.Kind)
		}
		return n, nil
	}
	from, err := host("from", req.From)
	if err != nil {
		return Policy{}, err
	}
	to, err := host("to", req.To)
	if err != nil {
		return Policy{}, err
	}
	if from == to {
		return Policy{}, fmt.Errorf("to: %s is also the source", to.Name)
	}
	mode := req.Mode
	if mode == "" {
		mode = dataplane.ModeEncap
	}
	if _, err := dataplane.ParseMode(string(mode)); err != nil {
		return Policy{}, fmt.Errorf("mode: %w", err)
	}
	var via []*topo.Node
	for _, v := range req.Via {
		r := nw.Node(v)
		if r == nil || !r.Has(topo.Underlay) {
			return Policy{}, fmt.Errorf("via: %q is not a router of lab %s", v, nw.Name)
		}
		via = append(via, r)
	}
	headend, tail := from.AttachedRouter(), to.AttachedRouter()
	p := Policy{Name: req.Name, From: from.Name, To: to.Name, Via: req.Via, Mode: mode, Headend: headend.Name, Tail: tail.Name}
	ends := make([]netip.Addr, 0, len(via)+1)
	for _, r := range via {
		ends = append(ends, r.SIDs.End)
	}
	first := tail
	if len(via) > 0 {
		first = via[0]
	}
	dev := dataplane.SIDDevice
	if first != headend {
		_, hops := underlay.ShortestPaths(nw, headend)
		hop, ok := hops[first]
		if !ok {
			return Policy{}, fmt.Errorf("via: %s cannot reach %s", headend.Name, first.Name)
		}
		dev = hop.Name
	}
	for _, ifc := range to.Interfaces {
		l := ifc.Link
		// IPv4 can only be carried encapsulated, to End.DX4.
		p.Steering = append(p.Steering, Steering{Prefix: l.Subnet4, Mode: dataplane.ModeEncap,
			Segments: append(slices.Clone(ends), tail.SIDs.DX4), Dev: dev})
		if mode == dataplane.ModeInline {
			// H.Insert: the kernel appends the packet's own destination as
			// the last segment, so no decapsulation SID is needed.
			if len(ends) == 0 {
				return Policy{}, errors.New("via: inline mode needs at least one waypoint")
			}
			p.Steering = append(p.Steering, Steering{Prefix: l.Subnet6, Mode: mode, Segments: slices.Clone(ends), Dev: dev})
		} else {
			p.Steering = append(p.Steering, Steering{Prefix: l.Subnet6, Mode: mode,
				Segments: append(slices.Clone(ends), tail.SIDs.DT6), Dev: dev})
		}
	}
	return p, nil
}

// AddPolicy installs req (and its reverse) in lab name and records it.
func AddPolicy(ctx context.Context, name string, req PolicyRequest, opts Options) ([]Policy, error) {
	opts.defaults()
	unlock, err := opts.Store.Lock(name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, nw, err := loadRunning(opts.Store, name)
	if err != nil {
		return nil, err
	}
	reqs := []PolicyRequest{req}
	if req.Reverse {
		rev := req
		rev.Name, rev.From, rev.To = req.Name+"-rev", req.To, req.From
		rev.Via = slices.Clone(req.Via)
		slices.Reverse(rev.Via)
		reqs = append(reqs, rev)
	}
	var added []Policy
	for _, r := range reqs {
		p, err := planPolicy(nw, r)
		if err != nil {
			return nil, err
		}
		if err := conflicts(st.Policies, added, p); err != nil {
			return nil, err
		}
		added = append(added, p)
	}
	for i, p := range added {
		if err := programPolicy(Namespace(name, p.Headend), p); err != nil {
			for _, done := range added[:i+1] {
				_ = unprogramPolicy(Namespace(name, done.Headend), done)
			}
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
	}
	st.Policies = append(st.Policies, added...)
	if err := opts.Store.Save(st); err != nil {
		for _, p := range added {
			_ = unprogramPolicy(Namespace(name, p.Headend), p)
		}
		return nil, err
	}
	return added, nil
}

func conflicts(existing, pending []Policy, p Policy) error {
	for _, o := range slices.Concat(existing, pending) {
		if o.Name == p.Name {
			return fmt.Errorf("name: policy %s already exists", p.Name)
		}
		if o.Headend != p.Headend {
			continue
		}
		for _, a := range o.Steering {
			for _, b := range p.Steering {
				if a.Prefix == b.Prefix {
					return fmt.Errorf("policy %s already steers %s at %s; delete it first", o.Name, a.Prefix, o.Headend)
				}
			}
		}
	}
	return nil
}

// DeletePolicy removes policy pname from lab name.
func DeletePolicy(ctx context.Context, name, pname string, opts Options) error {
	opts.defaults()
	unlock, err := opts.Store.Lock(name)
	if err != nil {
		return err
	}
	defer unlock()
	st, _, err := loadRunning(opts.Store, name)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(st.Policies, func(p Policy) bool { return p.Name == pname })
	if i < 0 {
		return fmt.Errorf("lab %s has no policy %q", name, pname)
	}
	p := st.Policies[i]
	if err := unprogramPolicy(Namespace(name, p.Headend), p); err != nil {
		return fmt.Errorf("policy %s: %w", pname, err)
	}
	st.Policies = slices.Delete(st.Policies, i, i+1)
	return opts.Store.Save(st)
}

func loadRunning(store Store, name string) (*State, *topo.Network, error) {
	st, err := store.Load(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("lab %s is not deployed", name)
	}
	if err != nil {
		return nil, nil, err
	}
	if st.Phase != PhaseRunning {
		return nil, nil, fmt.Errorf("lab %s is %s, not running", name, st.Phase)
	}
	nw, err := stateNetwork(st)
	if err != nil {
		return nil, nil, fmt.Errorf("lab %s: stored topology: %w", name, err)
	}
	return st, nw, nil
}

func programPolicy(ns string, p Policy) error {
	return withHandle(ns, func(h *netlink.Handle) error {
		for _, s := range p.Steering {
			link, err := h.LinkByName(s.Dev)
			if err != nil {
				return fmt.Errorf("device %s: %w", s.Dev, err)
			}
			rt, err := dataplane.SteerRoute(s.Prefix, s.Mode, s.Segments, link.Attrs().Index)
			if err != nil {
				return err
			}
			if err := h.RouteReplace(rt); err != nil {
				return fmt.Errorf("steer %s: %w", s.Prefix, err)
			}
		}
		return nil
	})
}

func unprogramPolicy(ns string, p Policy) error {
	return withHandle(ns, func(h *netlink.Handle) error {
		var errs []error
		for _, s := range p.Steering {
			rt := &netlink.Route{Dst: prefixNet(s.Prefix), Protocol: dataplane.RouteProtocol, Priority: dataplane.SteeringMetric}
			if err := h.RouteDel(rt); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("remove steering of %s: %w", s.Prefix, err))
			}
		}
		return errors.Join(errs...)
	})
}
